"""The text trace (the paper artifact's log), written and read in one place.

The engine writes its lines with the `*_line` functions below; the analysis reads each line
back with `parse_line`, which returns the line's kind and values or raises `LineError` with
the reason. What a sequence of lines means (an injection block followed by its step, a
rollback taking back steps, a complete end) is the reader's business (`analysis.parse_text`);
what one line says, and how, is declared here once.

Numbers are ASCII only (no `1_9`, no other scripts' digits); losses and accuracies are written
with five decimals, the values at the injection sites as Python's `repr` (exact).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

NAN_STOP = "Encounter NaN! Terminate training!"
"""The last line of a run stopped by a non-finite train or test loss."""
MAX_EPOCHS = 1_000_000
MAX_STEPS = 1_000_000_000
MAX_REPLICAS = 1_000_000
MAX_RANK = 8
MAX_RANGE_COUNT = 10**10 - 1
"""The most elements a `Range is` line is read with (its count has at most 10 digits): far
more than an operand of one training step holds (40 GB of fp32)."""
DETECTION_ACTIONS = ("none", "skip_update", "rollback", "unrecovered")
MODES = ("active", "observe")

_INT = r"[0-9]{1,10}"
_NUM = (
    r"[-+]?(?:[0-9]{1,350}(?:\.[0-9]{0,350})?(?:[eE][-+]?[0-9]{1,4})?"
    r"|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
)
_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_INT_RE = re.compile(_INT, re.ASCII)
STEP = re.compile(
    rf"Epoch: ({_INT})/({_INT}), step: ({_INT})/({_INT}), loss: ({_NUM}), accuracy: ({_NUM})\Z",
    re.ASCII,
)
EPOCH = re.compile(
    rf"End of epoch: ({_INT})/({_INT}), train loss: ({_NUM}), train accuracy: ({_NUM}), "
    rf"valid loss: ({_NUM}), valid accuracy: ({_NUM})\Z",
    re.ASCII,
)
POSITION = re.compile(
    rf"Position is \(([0-9, ]*)\), Golden data is ({_NUM}), inject data is ({_NUM})\Z", re.ASCII
)
RANGE = re.compile(
    rf"Range is \(([0-9, ]*)\) to \(([0-9, ]*)\), ({_INT}) elements?, Golden data max abs is "
    rf"({_NUM}), inject data max abs is ({_NUM})\Z",
    re.ASCII,
)
PRESET = re.compile(rf"Mitigation preset: ({_NAME}), mode ({'|'.join(MODES)})\Z", re.ASCII)
DETECTION = re.compile(
    rf"Mitigation: epoch ({_INT}), (?:step ({_INT})|evaluation), detector ({_NAME}), "
    rf"value ({_NUM}), threshold ({_NUM}), action ({'|'.join(DETECTION_ACTIONS)})"
    rf"(?:, resume at epoch ({_INT}) step ({_INT}))?\Z",
    re.ASCII,
)

INJECT_EPOCH = "Inject to epoch: "
INJECT_STEP = "Inject to step: "
WORKER = "Inject worker: "
LAYER = "Inject layer: "
SHAPE = "Shape for target layer is "
LOAD = "Load weights from "


# ---------------------------------------------------------------- writing
def inject_header_lines(epoch: int, step: int) -> list[str]:
    """The first two lines of an injection run: where the fault lands."""
    return [f"{INJECT_EPOCH}{epoch}", f"{INJECT_STEP}{step}"]


def load_line(path: Any) -> str:
    """A run that resumes from a golden checkpoint names it."""
    return f"{LOAD}{path}"


def step_line(epoch: int, epochs: int, step: int, steps_per_epoch: int, loss: float,
              accuracy: float) -> str:
    return (f"Epoch: {epoch}/{epochs}, step: {step}/{steps_per_epoch}, loss: {loss:.5f}, "
            f"accuracy: {accuracy:.5f}")


def epoch_line(epoch: int, epochs: int, train_loss: float, train_accuracy: float,
               test_loss: float, test_accuracy: float) -> str:
    return (f"End of epoch: {epoch}/{epochs}, train loss: {train_loss:.5f}, "
            f"train accuracy: {train_accuracy:.5f}, valid loss: {test_loss:.5f}, "
            f"valid accuracy: {test_accuracy:.5f}")


def site_lines(replica: Any, layer: str, shape: tuple[int, ...]) -> list[str]:
    """The lines that open an injection block: replica, layer, operand shape."""
    return [f"{WORKER}{replica}", f"{LAYER}{layer}", f"{SHAPE}{shape}"]


def range_line(first: tuple[int, ...], last: tuple[int, ...], count: Any, golden_max_abs: float,
               injected_max_abs: float) -> str:
    """A run of elements (one line instead of one per element); the maxima as `repr`."""
    return (f"Range is {first} to {last}, {count} elements, "
            f"Golden data max abs is {golden_max_abs!r}, "
            f"inject data max abs is {injected_max_abs!r}")


def position_line(position: tuple[int, ...], golden: Any, injected: str) -> str:
    """One element: its golden value as `repr`, the injected one as the text given."""
    return f"Position is {position}, Golden data is {golden!r}, inject data is {injected}"


def preset_line(preset: str, mode: str) -> str:
    return f"Mitigation preset: {preset}, mode {mode}"


def detection_line(epoch: int, step: int | None, detector: str, value: float, threshold: float,
                   action: str, resume: tuple[int, int] | None = None) -> str:
    """A mitigation's detection (step None: the epoch's evaluation); a rollback names the
    (epoch, step) training resumes at."""
    where = "evaluation" if step is None else f"step {step}"
    line = (f"Mitigation: epoch {epoch}, {where}, detector {detector}, value {value!r}, "
            f"threshold {threshold!r}, action {action}")
    if resume is not None:
        line += f", resume at epoch {resume[0]} step {resume[1]}"
    return line


# ---------------------------------------------------------------- reading
class LineError(ValueError):
    """A line that does not follow the format (the message says why)."""


def parse_int(text: str, what: str, top: int = 2**31 - 1) -> int:
    """ASCII digits only, at most ``top``."""
    if _INT_RE.fullmatch(text) is None:
        raise LineError(f"{what}: not a whole number")
    value = int(text)
    if value > top:
        raise LineError(f"{what}: {value} is larger than {top}")
    return value


def parse_index(text: str) -> list[int]:
    """`5, 0, 3` (the inside of a printed tuple, `5,` for one element) as integers."""
    parts = [p.strip() for p in text.split(",")]
    if parts and parts[-1] == "":  # "(5,)"
        parts.pop()
    if len(parts) > MAX_RANK:
        raise LineError(f"more than {MAX_RANK} dimensions: ({text[:100]})")
    return [parse_int(p, "index") for p in parts]


def _totals(e: str, total_e: str, s: str | None, total_s: str | None) -> tuple[int, ...]:
    """Epoch (and step) with their totals, each within its total and the sanity bounds."""
    out = [int(e), int(total_e)]
    if not 1 <= out[1] <= MAX_EPOCHS:
        raise LineError(f"{out[1]} epochs: not in 1..{MAX_EPOCHS}")
    if out[0] >= out[1]:
        raise LineError(f"epoch {out[0]} of 0..{out[1] - 1}")
    if s is not None and total_s is not None:
        out += [int(s), int(total_s)]
        if not 1 <= out[3] <= MAX_STEPS:
            raise LineError(f"{out[3]} steps per epoch: not in 1..{MAX_STEPS}")
        if out[2] >= out[3]:
            raise LineError(f"step {out[2]} of 0..{out[3] - 1}")
    return tuple(out)


def step_values(m: re.Match[str]) -> tuple[int, int, int, int, float, float]:
    """(epoch, epochs, step, steps per epoch, loss, accuracy) of a line `STEP` matched."""
    e, total_e, s, total_s = _totals(m.group(1), m.group(2), m.group(3), m.group(4))
    return e, total_e, s, total_s, float(m.group(5)), float(m.group(6))


def _matched(pattern: re.Pattern[str], line: str, what: str) -> re.Match[str]:
    m = pattern.match(line)
    if m is None:
        raise LineError(f"malformed {what} line")
    return m


def _detection(line: str) -> tuple[Any, ...]:
    m = _matched(DETECTION, line, "mitigation")
    epoch = parse_int(m.group(1), "epoch", MAX_EPOCHS)
    step = None if m.group(2) is None else parse_int(m.group(2), "step", MAX_STEPS)
    resume = None
    if m.group(7) is not None:
        resume = (parse_int(m.group(7), "epoch", MAX_EPOCHS),
                  parse_int(m.group(8), "step", MAX_STEPS))
    return epoch, step, m.group(3), float(m.group(4)), float(m.group(5)), m.group(6), resume


def parse_line(line: str) -> tuple[str, tuple[Any, ...]]:
    """(kind, values) of one non-blank line, or LineError. The kinds and their values:

    - "step": (epoch, epochs, step, steps per epoch, loss, accuracy)
    - "epoch": (epoch, epochs, train loss, train accuracy, valid loss, valid accuracy)
    - "nan_stop": ()
    - "detection": (epoch, step or None, detector, value, threshold, action, resume or None)
    - "preset": (preset, mode)
    - "inject_epoch", "inject_step", "worker": (number,); "layer", "load": (text,)
    - "shape": (index list,)
    - "position": (index list, golden value, injected value, injected value's text)
    - "range": (first index list, last index list, count, golden max abs, injected max abs)
    """
    if line.startswith("Epoch: "):
        return "step", step_values(_matched(STEP, line, "step"))
    if line.startswith("Mitigation: "):
        return "detection", _detection(line)
    if line.startswith("End of epoch: "):
        m = _matched(EPOCH, line, "end-of-epoch")
        e, total_e = _totals(m.group(1), m.group(2), None, None)
        return "epoch", (e, total_e, *(float(m.group(i)) for i in range(3, 7)))
    if line == NAN_STOP:
        return "nan_stop", ()
    if line.startswith("Position is "):
        m = _matched(POSITION, line, "position")
        return "position", (parse_index(m.group(1)), float(m.group(2)), float(m.group(3)),
                            m.group(3))
    if line.startswith("Range is "):
        m = _matched(RANGE, line, "range")
        return "range", (parse_index(m.group(1)), parse_index(m.group(2)),
                         parse_int(m.group(3), "elements", 2**53 - 1), float(m.group(4)),
                         float(m.group(5)))
    if line.startswith(INJECT_EPOCH):
        return "inject_epoch", (parse_int(line[len(INJECT_EPOCH):], "epoch", MAX_EPOCHS),)
    if line.startswith(INJECT_STEP):
        return "inject_step", (parse_int(line[len(INJECT_STEP):], "step", MAX_STEPS),)
    if line.startswith(WORKER):
        return "worker", (parse_int(line[len(WORKER):], "worker", MAX_REPLICAS),)
    if line.startswith(LAYER):
        return "layer", (line[len(LAYER):].strip(),)
    if line.startswith(SHAPE + "(") and line.endswith(")"):
        return "shape", (parse_index(line[len(SHAPE) + 1 : -1]),)
    if line.startswith("Mitigation preset: "):
        m = _matched(PRESET, line, "mitigation preset")
        return "preset", (m.group(1), m.group(2))
    if line.startswith(LOAD):
        return "load", (line[len(LOAD):].strip(),)
    raise LineError("unrecognised line")


def parse_lines(lines: Sequence[str]) -> list[tuple[str, tuple[Any, ...]]]:
    """`parse_line` of every non-blank line (a trailing CR dropped)."""
    return [parse_line(line.rstrip("\r")) for line in lines if line.strip()]
