"""Reduce a parsed trace to its one row of the results table (everything but the outcome).

Runs in worker processes: only numpy, no pandas or pyarrow.
"""

from __future__ import annotations

import math
from typing import Any

from analysis.columns import RESULT_NAMES
from analysis.errors import InputError, one_line
from analysis.golden import Band, GoldenRef
from analysis.rules import registry
from analysis.trace import Summary, Trace


def _to_float(value: object) -> float | None:
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


_INT64 = (-(2**63), 2**63 - 1)


def _to_int(value: object) -> int | None:
    """A whole number that fits the table's int64 columns, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        number: int | None = value
    else:
        f = _to_float(value)
        number = int(f) if f is not None and math.isfinite(f) and f == int(f) else None
    return number if number is not None and _INT64[0] <= number <= _INT64[1] else None


def _max_abs(values: list[float]) -> float | None:
    """Largest magnitude; +inf when any value is non-finite (NaN included)."""
    if not values:
        return None
    mags = [abs(v) for v in values]
    return math.inf if not all(math.isfinite(m) for m in mags) else float(max(mags))


def _magnitude(value: float | None) -> float | None:
    """A recorded max_abs as the table keeps it: NaN (a NaN was written) counts as +inf."""
    return None if value is None else (math.inf if math.isnan(value) else abs(value))


def _summary_columns(prefix: str, summary: Summary | None) -> dict[str, float | None]:
    if summary is None:
        return {}
    return {
        f"{prefix}_min": summary.min,
        f"{prefix}_max": summary.max,
        f"{prefix}_mean": summary.mean,
        f"max_abs_{prefix}": _magnitude(summary.max_abs),
    }


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _detection_columns(trace: Trace, inj_global_step: int | None) -> dict[str, Any]:
    found = trace.detections
    assert found is not None
    golden = trace.kind == "golden"
    out: dict[str, Any] = {
        "mitigation_mode": found.mode,
        "detections": found.count,
        "flagged_steps": found.flagged_steps,
        "false_alarms": found.count if golden else found.before_injection,
        "rollbacks": found.rollbacks,
        "unrecovered": found.unrecovered,
        "steps_reexecuted": found.steps_reexecuted,
        "steps_trained": found.steps_trained,
    }
    spe = trace.steps_per_epoch
    if found.first_after_injection is not None and spe and not golden:
        e, s = found.first_after_injection
        out["first_detection_global_step"] = e * spe + s
        if inj_global_step is not None:
            out["detection_latency_steps"] = e * spe + s - inj_global_step
    return out


def _plugin_features(trace: Trace, ref: GoldenRef | None) -> dict[str, Any]:
    """The columns of the plugins' features (analysis.rules), one call of each per run; a
    feature that fails stops the collection in one line naming the trace and the feature."""
    out: dict[str, Any] = {}
    for feature in registry.computed_features():
        assert feature.compute is not None
        try:
            out[feature.name] = feature.compute(trace, ref)
        except Exception as error:  # user code: one line
            raise InputError(trace.path, feature.name, f"the feature's compute failed: "
                                                       f"{type(error).__name__}: "
                                                       f"{one_line(str(error))}") from None
    return out


def summary_row(trace: Trace, reference: tuple[GoldenRef, Band] | None) -> dict[str, Any]:
    """The results-table row of one run; the outcome is added later, vectorised."""
    row: dict[str, Any] = dict.fromkeys(RESULT_NAMES)
    cfg = trace.config
    spe = trace.steps_per_epoch
    row.update(
        trace=trace.path,
        id=trace.id,
        format=trace.fmt,
        complete=trace.complete,
        problem=trace.problem_summary(),
        outcome_reason="",
        mitigation=trace.mitigation,
        workload=trace.workload,
        model=_opt_str(cfg.get("model")),
        dataset=_opt_str(cfg.get("dataset")),
        optimizer=_opt_str(cfg.get("optimizer")),
        learning_rate=_to_float(cfg.get("learning_rate")),
        seed=_to_int(cfg.get("seed")),
        num_classes=trace.num_classes,
        steps_per_epoch=spe,
        epochs=trace.epochs,
        start_epoch=trace.start_epoch,
        wall_time_s=trace.wall_time_s,
        golden_sha256=trace.golden_sha256,
        golden_checkpoint_path=trace.golden_checkpoint_path,
        is_backward=False,
    )
    inj = trace.injection
    if inj is not None:
        row.update(
            stage=inj.stage,
            fmodel=inj.fmodel,
            operand=inj.operand,
            replica=inj.replica,
            target_layer=inj.layer,
            is_backward=inj.is_backward,
            inj_epoch=inj.epoch,
            inj_step=inj.step,
            inj_global_step=inj.epoch * spe + inj.step if spe else None,
            shape=inj.shape,
            positions=inj.positions,
            n_positions=len(inj.positions),
            n_elements=inj.elements,
            range_first=inj.range_first,
            range_last=inj.range_last,
            value_kind=inj.value_kind,
            golden_values=inj.golden_values,
            injected_values=inj.injected_values,
            requested=inj.requested,
        )
        row.update(_summary_columns("golden", inj.golden_stats()))
        row.update(_summary_columns("injected", inj.injected_stats()))
        if inj.golden_values and len(inj.golden_values) == len(inj.injected_values):
            row["max_abs_change"] = _max_abs(
                [a - b for a, b in zip(inj.injected_values, inj.golden_values, strict=True)]
            )
    if trace.first_nonfinite is not None:
        e, s = trace.first_nonfinite
        row.update(
            first_nonfinite_epoch=e, first_nonfinite_step=s, nonfinite_metric=trace.nonfinite_metric
        )
        if spe:
            row["first_nonfinite_global_step"] = e * spe + s
            if row["inj_global_step"] is not None:
                row["nonfinite_delay_steps"] = e * spe + s - row["inj_global_step"]
    if trace.detections is not None:
        row.update(_detection_columns(trace, row["inj_global_step"]))
    if trace.rejoined_epoch is not None:
        row["rejoined_epoch"] = trace.rejoined_epoch
        if trace.complete:
            row["outcome_reason"] = f"rejoined the golden state at epoch {trace.rejoined_epoch}"
    curves = trace.curves
    last = trace.final_epoch_index()
    if curves is not None and last is not None:
        row.update(
            final_epoch=int(curves.epoch[last]),
            final_train_loss=float(curves.train_loss[last]),
            final_train_accuracy=float(curves.train_accuracy[last]),
            final_test_loss=float(curves.test_loss[last]),
            final_test_accuracy=float(curves.test_accuracy[last]),
        )
        if inj is not None:
            window = (curves.epoch >= inj.epoch) & (curves.epoch <= inj.epoch + 1)
            if window.any():
                row["early_min_train_accuracy"] = float(curves.train_accuracy[window].min())
    if reference is not None:
        ref, band = reference
        row.update(
            golden_id=ref.id,
            golden_trace=ref.path,
            ref_train_accuracy=ref.final_train_accuracy,
            ref_test_accuracy=ref.final_test_accuracy,
            band_size=band.size,
            band_spread_train=band.spread_train,
            band_spread_test=band.spread_test,
        )
    row.update(_plugin_features(trace, reference[0] if reference is not None else None))
    return row
