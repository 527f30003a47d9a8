"""Parser for the text trace format (the paper artifact's log, also written by fi_core).

What one line says is read by `fi_formats.trace_text.parse_line` (the grammar the engine
writes with); what the lines mean together is read here. Every line is either understood or
reported with its file and line number; a trace that does not end with the NaN stop line or
the end of its last epoch is reported as truncated. Numbers are ASCII only (no ``1_9``, no
other scripts' digits); a file that is not UTF-8 text, or holds NUL bytes, is refused whole;
after ``MAX_GARBAGE`` lines not in the format the rest is not read.
"""

from __future__ import annotations

import math
import os

from analysis.trace import (
    Curves,
    Detections,
    Injection,
    Summary,
    Trace,
    check_consistency,
    read_trace_bytes,
)
from fi_formats import trace_text
from fi_formats.names import stage_from_layer

MAX_GARBAGE = 100  # unrecognised lines before giving up on a file (binary, not a trace)
_Garbage = trace_text.LineError  # a line that does not follow the format


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


def _step(values: tuple[int, int, int, int, float, float], st: _State, trace: Trace,
          lineno: int) -> None:
    e, total_e, s, total_s, loss, accuracy = values
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
    st.steps.append((e, s, loss, accuracy))
    st.last_kind = "step"
    st.in_event = False


def _block(st: _State, lineno: int) -> None:
    """A line that opens (or continues) an injection block."""
    st.block_line = st.block_line or lineno
    st.block_seen = True
    st.last_kind = "inject"


def _handle(line: str, st: _State, trace: Trace, lineno: int) -> None:
    """Interpret one non-blank line; raise _Garbage when it is not part of the format."""
    detection = line.startswith("Mitigation: ")
    if not detection:
        st.in_event = False
    kind, v = trace_text.parse_line(line)
    if kind == "detection":
        _detection(v, st)
        st.in_event = True
    elif kind == "step":
        _step(v, st, trace, lineno)  # type: ignore[arg-type]
    elif kind == "epoch":
        st.totals.add(("epochs", v[1]))
        st.epochs.append((v[0], *v[2:]))
        st.last_kind = "epoch"
        st.last_epoch_end = (v[0], v[1])
    elif kind == "nan_stop":
        st.nan_stop = True
        st.last_kind = "nan_stop"
    elif kind == "position":
        st.positions.append(v[0])
        st.golden_values.append(v[1])
        st.injected_values.append(v[2])
        st.requested.append(v[3])
        st.last_kind = "inject"
    elif kind == "range":
        st.range = v  # type: ignore[assignment]
        st.last_kind = "inject"
    elif kind == "inject_epoch":
        st.inj_epoch = v[0]
        st.last_kind = "header"
    elif kind == "inject_step":
        st.inj_step = v[0]
        st.last_kind = "header"
    elif kind == "worker":
        st.worker = v[0]
        _block(st, lineno)
    elif kind == "layer":
        st.layer = v[0]
        _block(st, lineno)
    elif kind == "shape":
        st.shape = v[0]
        st.last_kind = "inject"
    elif kind == "preset":
        st.preset = (v[0], v[1])
        st.last_kind = "header"
    elif kind == "load":
        st.load_path = v[0]
        st.last_kind = "header"


def _detection(v: tuple, st: _State) -> None:
    """A mitigation's detection; a rollback takes back the steps (and epoch ends) from the step
    training resumes at: the lines that follow re-execute them."""
    epoch, step, _detector, _value, _threshold, action, resume = v
    if resume is not None:
        st.steps = [row for row in st.steps if (row[0], row[1]) < resume]
        st.epochs = [row for row in st.epochs if row[0] < resume[0]]
        st.last_kind = "rollback"  # steps must follow: a trace that ends here is cut short
    if not st.in_event:
        st.event += 1
    st.detections.append((st.event, epoch, step, action, resume))


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
    step_match = trace_text.STEP.match
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
                _step(trace_text.step_values(m), st, trace, lineno)
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
