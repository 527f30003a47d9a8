"""Parser for the text trace format (the paper artifact's log, also written by fi_core).

Every line is either understood or reported with its file and line number; a trace that does
not end with the NaN stop line or the end of its last epoch is reported as truncated. Numbers
are ASCII only (no ``1_9``, no other scripts' digits); a file that is not UTF-8 text, or holds
NUL bytes, is refused whole; after ``MAX_GARBAGE`` lines not in the format the rest is not read.
"""

from __future__ import annotations

import math
import os
import re

from analysis.trace import (
    Curves,
    Detections,
    Injection,
    Summary,
    Trace,
    check_consistency,
    read_trace_bytes,
)
from fi_formats.names import stage_from_layer

NAN_STOP = "Encounter NaN! Terminate training!"
MAX_GARBAGE = 100  # unrecognised lines before giving up on a file (binary, not a trace)
MAX_EPOCHS = 1_000_000
MAX_STEPS = 1_000_000_000
MAX_REPLICAS = 1_000_000

_INT = r"[0-9]{1,10}"
_NUM = (
    r"[-+]?(?:[0-9]{1,350}(?:\.[0-9]{0,350})?(?:[eE][-+]?[0-9]{1,4})?"
    r"|[nN][aA][nN]|[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)"
)
_INT_RE = re.compile(_INT, re.ASCII)
_NUM_RE = re.compile(_NUM, re.ASCII)
_STEP = re.compile(
    rf"Epoch: ({_INT})/({_INT}), step: ({_INT})/({_INT}), loss: ({_NUM}), accuracy: ({_NUM})\Z",
    re.ASCII,
)
_EPOCH = re.compile(
    rf"End of epoch: ({_INT})/({_INT}), train loss: ({_NUM}), train accuracy: ({_NUM}), "
    rf"valid loss: ({_NUM}), valid accuracy: ({_NUM})\Z",
    re.ASCII,
)
_POSITION = re.compile(
    rf"Position is \(([0-9, ]*)\), Golden data is ({_NUM}), inject data is ({_NUM})\Z", re.ASCII
)
_RANGE = re.compile(
    rf"Range is \(([0-9, ]*)\) to \(([0-9, ]*)\), ({_INT}) elements?, Golden data max abs is "
    rf"({_NUM}), inject data max abs is ({_NUM})\Z",
    re.ASCII,
)

_NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,63}"
_PRESET = re.compile(rf"Mitigation preset: ({_NAME}), mode (active|observe)\Z", re.ASCII)
_DETECTION = re.compile(
    rf"Mitigation: epoch ({_INT}), (?:step ({_INT})|evaluation), detector ({_NAME}), "
    rf"value ({_NUM}), threshold ({_NUM}), action (none|skip_update|rollback|unrecovered)"
    rf"(?:, resume at epoch ({_INT}) step ({_INT}))?\Z",
    re.ASCII,
)


class _Garbage(ValueError):
    """A line that does not follow the format."""


def _int(text: str, what: str, top: int = 2**31 - 1) -> int:
    """ASCII digits only, at most ``top``."""
    if _INT_RE.fullmatch(text) is None:
        raise _Garbage(f"{what}: not a whole number")
    value = int(text)
    if value > top:
        raise _Garbage(f"{what}: {value} is larger than {top}")
    return value


def _float(text: str) -> float:
    return float(text)  # only called on text matched by _NUM


def _int_tuple(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if parts and parts[-1] == "":  # "(5,)"
        parts.pop()
    if len(parts) > 8:
        raise _Garbage(f"more than 8 dimensions: ({text[:100]})")
    return [_int(p, "index") for p in parts]


def _totals(e: str, total_e: str, s: str | None, total_s: str | None) -> tuple[int, ...]:
    """Epoch (and step) with their totals, each within its total and the sanity bounds."""
    out = [int(e), int(total_e)]
    if not 1 <= out[1] <= MAX_EPOCHS:
        raise _Garbage(f"{out[1]} epochs: not in 1..{MAX_EPOCHS}")
    if out[0] >= out[1]:
        raise _Garbage(f"epoch {out[0]} of 0..{out[1] - 1}")
    if s is not None and total_s is not None:
        out += [int(s), int(total_s)]
        if not 1 <= out[3] <= MAX_STEPS:
            raise _Garbage(f"{out[3]} steps per epoch: not in 1..{MAX_STEPS}")
        if out[2] >= out[3]:
            raise _Garbage(f"step {out[2]} of 0..{out[3] - 1}")
    return tuple(out)


class _State:
    """Mutable parse state, kept out of the line loop for readability."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int, float, float]] = []
        self.epochs: list[tuple[int, float, float, float, float]] = []
        self.totals: set[tuple[str, int]] = set()
        self.inj_epoch: int | None = None
        self.inj_step: int | None = None
        self.worker: int | None = None
        self.layer: str | None = None
        self.shape: list[int] | None = None
        self.positions: list[list[int]] = []
        self.golden_values: list[float] = []
        self.injected_values: list[float] = []
        self.requested: list[str] = []
        self.range: tuple[list[int], list[int], int, float, float] | None = None
        self.block_line: int | None = None
        self.block_seen = False
        self.load_path: str | None = None
        self.last_kind = ""
        self.last_epoch_end: tuple[int, int] | None = None
        self.nan_stop = False
        self.garbage = 0
        self.preset: tuple[str, str] | None = None
        # (event, epoch, step or None for an evaluation, action, resume (epoch, step) or None);
        # an event is the run of adjacent Mitigation lines (the detectors of one step)
        self.detections: list[tuple[int, int, int | None, str, tuple[int, int] | None]] = []
        self.event = 0
        self.in_event = False  # the previous line was a Mitigation line


def _step(m: re.Match[str], st: _State, trace: Trace, lineno: int) -> None:
    e, total_e, s, total_s = _totals(m.group(1), m.group(2), m.group(3), m.group(4))
    st.totals.add(("epochs", total_e))
    st.totals.add(("steps", total_s))
    if st.block_line is not None:
        if (e, s) != (st.inj_epoch, st.inj_step):
            trace.problem(
                f"injection block (line {st.block_line}) is followed by step {e}/{s}, "
                f"not the injection step {st.inj_epoch}/{st.inj_step}",
                line=lineno,
            )
        st.block_line = None
    st.steps.append((e, s, _float(m.group(5)), _float(m.group(6))))
    st.last_kind = "step"
    st.in_event = False


def _handle(line: str, st: _State, trace: Trace, lineno: int) -> None:
    """Interpret one non-blank line; raise _Garbage when it is not part of the format."""
    if line.startswith("Mitigation: "):
        _detection(line, st)
        st.in_event = True
        return
    st.in_event = False
    if line.startswith("Epoch: "):
        m = _STEP.match(line)
        if m is None:
            raise _Garbage("malformed step line")
        _step(m, st, trace, lineno)
    elif line.startswith("End of epoch: "):
        m = _EPOCH.match(line)
        if m is None:
            raise _Garbage("malformed end-of-epoch line")
        e, total_e = _totals(m.group(1), m.group(2), None, None)
        st.totals.add(("epochs", total_e))
        st.epochs.append((e, *(_float(m.group(i)) for i in range(3, 7))))
        st.last_kind = "epoch"
        st.last_epoch_end = (e, total_e)
    elif line == NAN_STOP:
        st.nan_stop = True
        st.last_kind = "nan_stop"
    elif line.startswith("Position is "):
        m = _POSITION.match(line)
        if m is None:
            raise _Garbage("malformed position line")
        st.positions.append(_int_tuple(m.group(1)))
        st.golden_values.append(_float(m.group(2)))
        st.injected_values.append(_float(m.group(3)))
        st.requested.append(m.group(3))
        st.last_kind = "inject"
    elif line.startswith("Range is "):
        m = _RANGE.match(line)
        if m is None:
            raise _Garbage("malformed range line")
        st.range = (
            _int_tuple(m.group(1)),
            _int_tuple(m.group(2)),
            _int(m.group(3), "elements", 2**53 - 1),
            _float(m.group(4)),
            _float(m.group(5)),
        )
        st.last_kind = "inject"
    elif line.startswith("Inject to epoch: "):
        st.inj_epoch = _int(line[len("Inject to epoch: ") :], "epoch", MAX_EPOCHS)
        st.last_kind = "header"
    elif line.startswith("Inject to step: "):
        st.inj_step = _int(line[len("Inject to step: ") :], "step", MAX_STEPS)
        st.last_kind = "header"
    elif line.startswith("Inject worker: "):
        st.worker = _int(line[len("Inject worker: ") :], "worker", MAX_REPLICAS)
        st.block_line = st.block_line or lineno
        st.block_seen = True
        st.last_kind = "inject"
    elif line.startswith("Inject layer: "):
        st.layer = line[len("Inject layer: ") :].strip()
        st.block_line = st.block_line or lineno
        st.block_seen = True
        st.last_kind = "inject"
    elif line.startswith("Shape for target layer is (") and line.endswith(")"):
        st.shape = _int_tuple(line[len("Shape for target layer is (") : -1])
        st.last_kind = "inject"
    elif line.startswith("Mitigation preset: "):
        m = _PRESET.match(line)
        if m is None:
            raise _Garbage("malformed mitigation preset line")
        st.preset = (m.group(1), m.group(2))
        st.last_kind = "header"
    elif line.startswith("Load weights from "):
        st.load_path = line[len("Load weights from ") :].strip()
        st.last_kind = "header"
    else:
        raise _Garbage("unrecognised line")


def _detection(line: str, st: _State) -> None:
    """A mitigation's detection; a rollback takes back the steps (and epoch ends) from the step
    training resumes at: the lines that follow re-execute them."""
    m = _DETECTION.match(line)
    if m is None:
        raise _Garbage("malformed mitigation line")
    epoch = _int(m.group(1), "epoch", MAX_EPOCHS)
    step = None if m.group(2) is None else _int(m.group(2), "step", MAX_STEPS)
    resume = None
    if m.group(7) is not None:
        resume = (_int(m.group(7), "epoch", MAX_EPOCHS), _int(m.group(8), "step", MAX_STEPS))
        st.steps = [row for row in st.steps if (row[0], row[1]) < resume]
        st.epochs = [row for row in st.epochs if row[0] < resume[0]]
        st.last_kind = "rollback"  # steps must follow: a trace that ends here is cut short
    if not st.in_event:
        st.event += 1
    st.detections.append((st.event, epoch, step, m.group(6), resume))


def _detections(trace: Trace, st: _State) -> None:
    """The detections of the text's Mitigation lines (evaluations at the epoch's last step)."""
    spe = trace.steps_per_epoch or 0
    inj = trace.injection
    at = None if inj is None else (inj.epoch, inj.step)
    found = Detections(mode=st.preset[1] if st.preset else None)
    flagged: set[tuple[int, int, bool]] = set()
    events: set[int] = set()
    for event, epoch, step, action, resume in st.detections:
        position = (epoch, spe - 1 if step is None else step)
        first = event not in events
        found.add(*position, at, action, first)
        if resume is not None and first:
            found.steps_reexecuted += (position[0] - resume[0]) * spe + position[1] - resume[1] + 1
        events.add(event)
        flagged.add((*position, step is None))
    found.flagged_steps = len(flagged)
    trace.detections = found


def _decode(trace: Trace, data: bytes) -> str | None:
    """The text of a trace, or None with the problem recorded (binary, UTF-16, Latin-1)."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        trace.problem("UTF-16 text (byte-order mark): a trace is UTF-8 text")
        return None
    nul = data.find(b"\x00")
    if nul >= 0:
        trace.problem(f"NUL byte at byte {nul}: a binary file, not a text trace")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        trace.problem(f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None


def parse_text(path: str, data: bytes | None = None, num_classes: int = 10) -> Trace:
    """Parse a text trace; never raises on bad content, records problems instead."""
    stem = os.path.splitext(os.path.basename(path))[0]
    trace = Trace(path=path, fmt="text", id=stem, kind="golden")
    if data is None:
        data = read_trace_bytes(trace)
        if data is None:
            return trace
    text = _decode(trace, data)
    if text is None:
        return trace
    lines = text.split("\n")
    has_final_newline = lines[-1] == ""
    if has_final_newline:
        lines.pop()
    st = _State()
    last_lineno = 0
    step_match = _STEP.match
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        last_lineno = lineno
        try:
            # Fast path for the bulk of every trace: a well-formed step line outside an
            # injection block. Everything else goes through the careful handler.
            m = step_match(line) if st.block_line is None else None
            if m is not None:
                _step(m, st, trace, lineno)
            else:
                _handle(line, st, trace, lineno)
        except _Garbage as exc:
            trace.problem(f"{exc}: {line[:100]!r}", line=lineno)
            st.last_kind = "garbage"
            st.garbage += 1
            if st.garbage >= MAX_GARBAGE:
                trace.problem(
                    f"not a trace? stopped reading after {MAX_GARBAGE} lines not in the format",
                    line=lineno,
                    first=True,
                )
                return trace
    _finish(trace, st, last_lineno, has_final_newline, num_classes)
    return trace


def _range_injection(trace: Trace, st: _State, inj: Injection) -> None:
    """Fill the run of elements of a `Range is` line (flat indices need the shape)."""
    assert st.range is not None
    first, last, count, golden_max_abs, injected_max_abs = st.range
    inj.count = count
    inj.golden_summary = Summary(max_abs=golden_max_abs)
    inj.injected_summary = Summary(max_abs=injected_max_abs)
    shape = st.shape
    if shape is None:
        trace.problem("a 'Range is' line without the 'Shape for target layer' line before it")
        return
    for pos in (first, last):
        if len(pos) != len(shape) or any(p >= d for p, d in zip(pos, shape, strict=False)):
            trace.problem(f"range end {tuple(pos)} is not a position in shape {tuple(shape)}")
            return
    flat = [0, 0]
    for k, pos in enumerate((first, last)):
        for p, d in zip(pos, shape, strict=True):
            flat[k] = flat[k] * d + p
    inj.range_first, inj.range_last = flat


def _finish(trace: Trace, st: _State, last_lineno: int, newline: bool, num_classes: int) -> None:
    if last_lineno == 0:
        trace.problem("empty trace")
        return
    totals_e = sorted(v for k, v in st.totals if k == "epochs")
    totals_s = sorted(v for k, v in st.totals if k == "steps")
    if len(totals_e) > 1 or len(totals_s) > 1:
        trace.problem(f"inconsistent totals: epochs {totals_e}, steps per epoch {totals_s}")
    trace.config = {
        "epochs": totals_e[-1] if totals_e else None,
        "steps_per_epoch": totals_s[-1] if totals_s else None,
        "num_classes": num_classes,
    }
    trace.curves = Curves.from_lists(st.steps, st.epochs)
    trace.start_epoch = st.steps[0][0] if st.steps else None
    trace.first_nonfinite = trace.curves.first_nonfinite_step()
    trace.golden_checkpoint_path = st.load_path
    if st.inj_epoch is not None or st.inj_step is not None or st.block_seen:
        trace.kind = "injection"
        if st.inj_epoch is None or st.inj_step is None:
            trace.problem("missing 'Inject to epoch'/'Inject to step' header", line=1)
        else:
            trace.injection = Injection(
                epoch=st.inj_epoch,
                step=st.inj_step,
                layer=st.layer,
                stage=stage_from_layer(st.layer),
                replica=st.worker,
                shape=st.shape,
                positions=st.positions,
                golden_values=st.golden_values,
                injected_values=st.injected_values,
                requested=st.requested,
            )
            if st.range is not None:
                _range_injection(trace, st, trace.injection)
    if st.preset is not None:
        trace.mitigation = st.preset[0]
    if st.preset is not None or st.detections:
        _detections(trace, st)
    complete_end = st.last_kind == "nan_stop" or (
        st.last_kind == "epoch"
        and st.last_epoch_end is not None
        and st.last_epoch_end[0] == st.last_epoch_end[1] - 1
    )
    if not complete_end:
        trace.problem(
            "truncated: the trace ends before 'Encounter NaN! Terminate training!' or the end "
            "of the last epoch",
            line=last_lineno,
        )
    elif not newline:
        trace.problem(
            "no newline at the end of the file: the last line may be cut off", line=last_lineno
        )
    test_nonfinite = any(not math.isfinite(e[3]) for e in st.epochs)
    if st.nan_stop and trace.first_nonfinite is None and not test_nonfinite:
        trace.problem(
            "'Encounter NaN!' without a non-finite step loss or valid loss", field_name="loss"
        )
    if trace.kind == "injection" and not st.block_seen and not trace.problems:
        trace.problem("injection run without an injection block (Inject layer/Position lines)")
    check_consistency(trace)
