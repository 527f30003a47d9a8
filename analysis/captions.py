"""One caption per figure, as reStructuredText files for the Snakemake report.

These are the fixed parts (no data in them), written on their own by ``fi-analysis captions
--out-dir DIR``. ``fi-analysis figures`` writes each caption followed by a sentence saying
from how many runs its figure is drawn; the report includes that file.
"""

from __future__ import annotations

import os

from fi_formats.atomic import write_text_atomic

CAPTIONS: dict[str, str] = {
    "outcomes_by_workload_stage": (
        "Outcome distribution per workload (rows of panels) and injection stage (side by side, "
        "told apart by hatching; bar colours are the outcomes, as in every figure). Left: the "
        "share of Masked runs; right: the other outcomes on their own scale. Bars are rates in "
        "% of the complete runs of the stage, whiskers 95% Wilson intervals; n per stage is in "
        "the legend. Incomplete (truncated or malformed) runs are excluded."
    ),
    "rates_by_fmodel": (
        "Rates of the unexpected outcomes (every outcome but Masked) per software fault model, "
        "stacked; the whisker is the 95% Wilson interval of the total unexpected rate. n "
        "(complete runs) per fault model is in the axis labels."
    ),
    "layer_heatmap": (
        "Per-layer rates (%) of each unexpected outcome and of all unexpected outcomes "
        "together (last column). Rows are target layers (with the workload when several), "
        "with the number of complete runs n in the row label."
    ),
    "magnitude_vs_outcome": (
        "Outcome shares against the magnitude of the injected value (largest absolute value "
        "written by the fault, in bins of four decades; non-finite values on their own). n per bin "
        "above the bars. Large corrupted values are what drive runs to INFs/NaNs and "
        "degradation; small ones are mostly masked."
    ),
    "example_curves": (
        "Training curves of one example run of each outcome (the first such run by file "
        "name), in its outcome's colour: epoch-end train (solid) and test (dashed) accuracy "
        "and per-step training accuracy (thin), over the band of the fault-free runs (shaded: "
        "min to max of the K golden runs, train grey, test tan). The dotted line marks the "
        "injection, a cross the first non-finite loss. Accuracy is a fraction of the images; "
        "time is in epochs."
    ),
    "artifact_examples": (
        "The reference paper's artifact traces on one plot: the fault-free ResNet-18 run "
        "(grey; epochs 30-79 as recorded) and the replayed immediate-INF/NaN injection (black; "
        "epoch 19, step 38), training loss (cross-entropy, top) and accuracy (bottom) per "
        "step; the cross marks the step whose loss is NaN, where training stops."
    ),
}

FIGURES: tuple[str, ...] = tuple(CAPTIONS)


def write_captions(out_dir: str, names: tuple[str, ...] = FIGURES) -> list[str]:
    """Write ``<name>.rst`` for each figure; returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in names:
        path = os.path.join(out_dir, f"{name}.rst")
        write_text_atomic(path, CAPTIONS[name] + "\n")
        paths.append(path)
    return paths
