"""Parser for the text trace format (the paper artifact's log, also written by fi_core).

Every line is either understood or reported with its file and line number; a trace that does
not end with the NaN stop line or the end of its last epoch is reported as truncated.
"""

from __future__ import annotations

import os
import re

from analysis.trace import Curves, Injection, Trace, check_consistency, stage_from_layer

_STEP = re.compile(r"Epoch: (\d+)/(\d+), step: (\d+)/(\d+), loss: ([^,\s]+), accuracy: ([^,\s]+)\Z")
_POSITION = re.compile(r"^Position is \(([^)]*)\), Golden data is (\S+), inject data is (\S+)$")
NAN_STOP = "Encounter NaN! Terminate training!"


class _Garbage(ValueError):
    """A line that does not follow the format."""


def _frac(text: str) -> tuple[int, int]:
    num, _, den = text.partition("/")
    try:
        return int(num), int(den)
    except ValueError as exc:
        raise _Garbage(f"expected <n>/<total>, got {text!r}") from exc


def _number(text: str, prefix: str) -> float:
    if not text.startswith(prefix):
        raise _Garbage(f"expected {prefix!r}")
    try:
        return float(text[len(prefix) :])
    except ValueError as exc:
        raise _Garbage(f"not a number after {prefix!r}") from exc


def _step_line(line: str) -> tuple[int, int, int, int, float, float]:
    parts = line[len("Epoch: ") :].split(", ")
    if len(parts) != 4 or not parts[1].startswith("step: "):
        raise _Garbage("malformed step line")
    e, total_e = _frac(parts[0])
    s, total_s = _frac(parts[1][len("step: ") :])
    return e, total_e, s, total_s, _number(parts[2], "loss: "), _number(parts[3], "accuracy: ")


def _epoch_line(line: str) -> tuple[int, int, float, float, float, float]:
    parts = line[len("End of epoch: ") :].split(", ")
    if len(parts) != 5:
        raise _Garbage("malformed end-of-epoch line")
    e, total_e = _frac(parts[0])
    return (
        e,
        total_e,
        _number(parts[1], "train loss: "),
        _number(parts[2], "train accuracy: "),
        _number(parts[3], "valid loss: "),
        _number(parts[4], "valid accuracy: "),
    )


def _int_after(line: str, prefix: str) -> int:
    try:
        return int(line[len(prefix) :])
    except ValueError as exc:
        raise _Garbage(f"not an integer after {prefix!r}") from exc


def _int_tuple(text: str) -> list[int]:
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x != ""]
    except ValueError as exc:
        raise _Garbage(f"not a tuple of integers: ({text})") from exc


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
        self.block_line: int | None = None
        self.block_seen = False
        self.load_path: str | None = None
        self.last_kind = ""
        self.last_epoch_end: tuple[int, int] | None = None
        self.nan_stop = False


def _handle(line: str, st: _State, trace: Trace, lineno: int) -> None:
    """Interpret one non-blank line; raise _Garbage when it is not part of the format."""
    if line.startswith("Epoch: "):
        e, total_e, s, total_s, loss, acc = _step_line(line)
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
        st.steps.append((e, s, loss, acc))
        st.last_kind = "step"
    elif line.startswith("End of epoch: "):
        e, total_e, trl, tra, tel, tea = _epoch_line(line)
        st.totals.add(("epochs", total_e))
        st.epochs.append((e, trl, tra, tel, tea))
        st.last_kind = "epoch"
        st.last_epoch_end = (e, total_e)
    elif line == NAN_STOP:
        st.nan_stop = True
        st.last_kind = "nan_stop"
    elif line.startswith("Position is "):
        m = _POSITION.match(line)
        if m is None:
            raise _Garbage("malformed position line")
        try:
            golden, injected = float(m.group(2)), float(m.group(3))
        except ValueError as exc:
            raise _Garbage("golden or injected value is not a number") from exc
        st.positions.append(_int_tuple(m.group(1)))
        st.golden_values.append(golden)
        st.injected_values.append(injected)
        st.requested.append(m.group(3))
        st.last_kind = "inject"
    elif line.startswith("Inject to epoch: "):
        st.inj_epoch = _int_after(line, "Inject to epoch: ")
        st.last_kind = "header"
    elif line.startswith("Inject to step: "):
        st.inj_step = _int_after(line, "Inject to step: ")
        st.last_kind = "header"
    elif line.startswith("Inject worker: "):
        st.worker = _int_after(line, "Inject worker: ")
        st.block_line = st.block_line or lineno
        st.block_seen = True
        st.last_kind = "inject"
    elif line.startswith("Inject layer: "):
        st.layer = line[len("Inject layer: ") :].strip()
        st.block_line = st.block_line or lineno
        st.block_seen = True
        st.last_kind = "inject"
    elif line.startswith("Shape for target layer is ("):
        st.shape = _int_tuple(line[len("Shape for target layer is (") :].rstrip(")"))
        st.last_kind = "inject"
    elif line.startswith("Load weights from "):
        st.load_path = line[len("Load weights from ") :].strip()
        st.last_kind = "header"
    else:
        raise _Garbage("unrecognised line")


def parse_text(path: str, data: bytes | None = None, num_classes: int = 10) -> Trace:
    """Parse a text trace; never raises on bad content, records problems instead."""
    stem = os.path.splitext(os.path.basename(path))[0]
    trace = Trace(path=path, fmt="text", id=stem, kind="golden")
    if data is None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            trace.problem(f"cannot read: {exc.strerror}")
            return trace
    lines = data.decode("utf-8", errors="replace").split("\n")
    has_final_newline = lines[-1] == ""
    if has_final_newline:
        lines.pop()
    st = _State()
    last_lineno = 0
    step_match = _STEP.match
    steps = st.steps
    totals: tuple[str, str] | None = None
    for lineno, raw in enumerate(lines, 1):
        line = raw.rstrip("\r")
        # Fast path for the bulk of every trace: a well-formed step line outside an injection
        # block. Everything else goes through the careful handler.
        m = step_match(line) if st.block_line is None else None
        if m is not None:
            e, total_e, s, total_s, loss, acc = m.groups()
            if (total_e, total_s) != totals:
                totals = (total_e, total_s)
                st.totals.add(("epochs", int(total_e)))
                st.totals.add(("steps", int(total_s)))
            try:
                steps.append((int(e), int(s), float(loss), float(acc)))
            except ValueError:
                trace.problem(f"not a number in step line: {line[:100]!r}", line=lineno)
                st.last_kind = "garbage"
            else:
                st.last_kind = "step"
            last_lineno = lineno
            continue
        if not line.strip():
            continue
        last_lineno = lineno
        try:
            _handle(line, st, trace, lineno)
        except _Garbage as exc:
            trace.problem(f"{exc}: {line[:100]!r}", line=lineno)
            st.last_kind = "garbage"
    _finish(trace, st, last_lineno, has_final_newline, num_classes)
    return trace


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
    if st.nan_stop and trace.first_nonfinite is None:
        trace.problem("'Encounter NaN!' without a non-finite step loss", field_name="loss")
    if trace.kind == "injection" and not st.block_seen and not trace.problems:
        trace.problem("injection run without an injection block (Inject layer/Position lines)")
    check_consistency(trace)
