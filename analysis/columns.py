"""The columns of the two output tables, with their types and meaning, in one place.

Kept free of pyarrow so that worker processes and the docs test can use it cheaply.
"""

from __future__ import annotations

# (name, type, description); types: string, bool, int32, int64, float64, list<int64>,
# list<list<int64>>, list<float64>, list<string>.
RESULT_COLUMNS: list[tuple[str, str, str]] = [
    ("trace", "string", "path of the trace file, as given or found"),
    ("id", "string", "experiment id (the JSON `id`, else the file stem)"),
    ("format", "string", "trace format: `json` or `text`"),
    ("complete", "bool", "false when the trace is truncated or malformed"),
    ("problem", "string", "why the trace is incomplete (file:line or file: field), else null"),
    ("outcome", "string", "outcome class (see Outcomes)"),
    (
        "outcome_reason",
        "string",
        "why the outcome, when not read from the curves: `rejoined the golden state at epoch E`; "
        "else empty",
    ),
    ("mitigation", "string", "mitigation preset of the run (`none` when the trace names none)"),
    ("mitigation_mode", "string", "`active` (the preset recovers) or `observe`; null for none"),
    ("detections", "int32", "detections recorded (one per detector that fired); null for none"),
    ("flagged_steps", "int32", "distinct steps (or evaluations) at which a detector fired"),
    ("false_alarms", "int32", "detections before the injection step (or in a golden run)"),
    (
        "first_detection_global_step",
        "int64",
        "global step of the first detection at or after the injection, else null",
    ),
    (
        "detection_latency_steps",
        "int64",
        "first_detection_global_step - inj_global_step (0: the injection step itself)",
    ),
    ("rollbacks", "int32", "detections that rolled the training state back"),
    ("unrecovered", "int32", "detections whose rollback found no snapshot left to go back to"),
    ("steps_reexecuted", "int64", "training steps re-executed after rollbacks"),
    (
        "steps_trained",
        "int64",
        "steps the run trained, re-executions included, the golden tail of an early exit not "
        "(JSON traces with a mitigation)",
    ),
    ("workload", "string", "workload preset (text traces: CSV `workload`/`model`, else null)"),
    ("model", "string", "model name"),
    ("dataset", "string", "dataset name"),
    ("optimizer", "string", "optimiser name"),
    ("learning_rate", "float64", "initial learning rate"),
    ("seed", "int64", "training seed"),
    ("num_classes", "int32", "number of classes (text traces: --num-classes)"),
    ("steps_per_epoch", "int32", "steps per epoch"),
    ("epochs", "int32", "total number of epochs"),
    ("stage", "string", "`fwrd_inject` or `bkwd_inject` (text: from the layer name)"),
    ("fmodel", "string", "software fault model (text traces: from the CSV, else null)"),
    ("operand", "string", "operand hit: input, weight or output"),
    ("replica", "int32", "replica (worker) that was hit"),
    ("target_layer", "string", "layer that was hit"),
    ("is_backward", "bool", "backward-pass fault (stage, or a `_grad_in`/`_grad_wt` layer)"),
    ("inj_epoch", "int32", "epoch of the injection"),
    ("inj_step", "int32", "step (within the epoch) of the injection"),
    ("inj_global_step", "int64", "inj_epoch * steps_per_epoch + inj_step"),
    ("shape", "list<int64>", "shape of the target operand"),
    ("positions", "list<list<int64>>", "positions that were hit"),
    ("n_positions", "int32", "number of positions listed (0 for a range)"),
    ("n_elements", "int64", "elements hit: the trace's `count`, else the positions listed"),
    ("range_first", "int64", "a run of elements: first flat row-major index, else null"),
    ("range_last", "int64", "a run of elements: last flat row-major index (inclusive)"),
    ("value_kind", "string", "value rule: `explicit`, `bitflip`, `copy`, ... (JSON traces)"),
    ("golden_values", "list<float64>", "values before the fault"),
    ("injected_values", "list<float64>", "values written by the fault"),
    ("requested", "list<string>", "values as requested (CSV text)"),
    ("max_abs_injected", "float64", "largest abs(injected value); +inf if any is non-finite"),
    ("max_abs_golden", "float64", "largest abs(golden value)"),
    ("max_abs_change", "float64", "largest abs(injected - golden); +inf if non-finite"),
    ("golden_min", "float64", "smallest golden value (summary, else from the list)"),
    ("golden_max", "float64", "largest golden value"),
    ("golden_mean", "float64", "mean golden value"),
    ("injected_min", "float64", "smallest injected value (summary, else from the list)"),
    ("injected_max", "float64", "largest injected value"),
    ("injected_mean", "float64", "mean injected value"),
    ("start_epoch", "int32", "first epoch trained in the run"),
    ("first_nonfinite_epoch", "int32", "epoch of the first non-finite loss, else null"),
    (
        "first_nonfinite_step",
        "int32",
        "step of the first non-finite loss (a test loss: the epoch's last step), else null",
    ),
    ("first_nonfinite_global_step", "int64", "global step of the first non-finite loss"),
    ("nonfinite_delay_steps", "int64", "first_nonfinite_global_step - inj_global_step"),
    (
        "nonfinite_metric",
        "string",
        "which loss became non-finite first: `train_loss` (a training step) or `test_loss` (the "
        "evaluation at the end of an epoch); null when none did",
    ),
    ("rejoined_epoch", "int32", "epoch at whose end the run rejoined the golden state, else null"),
    ("final_epoch", "int32", "last completed epoch"),
    ("final_train_loss", "float64", "train loss at the last completed epoch"),
    ("final_train_accuracy", "float64", "train accuracy at the last completed epoch"),
    ("final_test_loss", "float64", "test loss at the last completed epoch"),
    ("final_test_accuracy", "float64", "test accuracy at the last completed epoch"),
    (
        "early_min_train_accuracy",
        "float64",
        "lowest epoch-end train accuracy in epochs inj_epoch..inj_epoch+1",
    ),
    ("wall_time_s", "float64", "wall time of the run (JSON traces)"),
    ("golden_id", "string", "id of the golden reference run"),
    ("golden_trace", "string", "trace file of the golden reference run"),
    ("golden_sha256", "string", "hash of the golden checkpoint the run resumed from (JSON)"),
    ("golden_checkpoint_path", "string", "checkpoint the run resumed from"),
    ("ref_train_accuracy", "float64", "final train accuracy of the golden reference"),
    ("ref_test_accuracy", "float64", "final test accuracy of the golden reference"),
    ("band_size", "int32", "K: golden runs in the reference's band"),
    ("band_spread_train", "float64", "max - min final train accuracy over the band"),
    ("band_spread_test", "float64", "max - min final test accuracy over the band"),
]

RESULT_NAMES = [c[0] for c in RESULT_COLUMNS]

CURVE_COLUMNS: list[tuple[str, str, str]] = [
    ("trace", "string", "path of the trace file (joins with results.trace)"),
    ("id", "string", "experiment id"),
    ("run_kind", "string", "`injection` or `golden`"),
    ("level", "string", "`step` (per training step) or `epoch` (end of epoch)"),
    ("epoch", "int32", "epoch"),
    ("step", "int32", "step within the epoch (null for epoch-level rows)"),
    ("global_step", "int64", "epoch * steps_per_epoch + step (epoch rows: the epoch's last step)"),
    (
        "metric",
        "string",
        "`loss`, `accuracy` (step rows); `train_loss`, `train_accuracy`, `test_loss`, "
        "`test_accuracy` (epoch rows)",
    ),
    ("value", "float64", "the value (NaN/inf kept as they are)"),
]
