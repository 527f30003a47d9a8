"""`fi-analysis prediction-select` and `fi-analysis prediction-rates`: the analysis's two steps of
a prediction-powered campaign.

1. `prediction-select`, after every run reached its horizon: which runs are continued to the end
   (each run that did not end by itself, with its stratum's probability, seeded); written as
   `selection.csv` before any run is continued, so the draw cannot depend on what they give.
2. `prediction-rates`, once the selected runs have ended: the outcome predictor, cross-fitted on
   the labelled runs' horizon features, and per outcome and stratum the prediction-powered rate
   and interval beside the classical one of the labelled runs alone; the predictor's confusion
   matrix on the labelled runs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from analysis.errors import InputError
from analysis.outputs import check_output_dir, check_output_file
from fi_formats.atomic import atomic_path, write_text_atomic

if TYPE_CHECKING:
    import pandas as pd
# pandas, scikit-learn and the rest are imported by the command that runs (the parser is built
# for every fi-analysis command).

SELECTION_COLUMNS = ("id", "job", "exact", "far", "stage", "fmodel", "target_layer",
                     "probability", "labelled")


def _columns(text: str) -> list[str]:
    return [c for c in text.split(",") if c]


def add_parsers(sub) -> None:  # argparse's _SubParsersAction
    p = sub.add_parser("prediction-select",
                       help="draw the runs a prediction-powered campaign continues to the end")
    p.add_argument("horizon", nargs="+", metavar="DIR", help="folders of horizon records")
    p.add_argument("--fraction", type=float, required=True,
                   help="share of the runs near the golden state that are continued")
    p.add_argument("--far-fraction", type=float, default=1.0,
                   help="share of the runs far from it that are continued (default 1)")
    p.add_argument("--far-distance", type=float, default=None,
                   help="relative distance of a state part from the golden one beyond which a "
                        "run is far (default 1.0)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True, help="selection.csv")
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("prediction-rates",
                       help="prediction-powered outcome rates with intervals (CSV, Markdown)")
    p.add_argument("horizon", nargs="+", metavar="DIR", help="folders of horizon records")
    p.add_argument("--selection", type=Path, required=True, help="selection.csv")
    p.add_argument("--table", type=Path, required=True,
                   help="results.parquet of the labelled runs' traces")
    p.add_argument("--by", type=_columns, action="append", default=[],
                   help="a grouping COL[,COL...] (repeatable); the overall row comes first")
    p.add_argument("--folds", type=int, default=5, help="cross-fitting folds (default 5)")
    p.add_argument("--seed", type=int, default=0, help="folds' seed")
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--out-dir", type=Path, required=True,
                   help="writes rates.csv, rates.md, confusion.csv, confusion.md, units.parquet")
    p.set_defaults(func=cmd_rates)


def cmd_select(args: argparse.Namespace) -> int:
    from analysis.prediction import design, units

    check_output_file(str(args.out), "--out")
    distance = units.FAR_DISTANCE if args.far_distance is None else args.far_distance
    if not distance > 0 or distance == float("inf"):
        raise InputError("--far-distance", None, f"{distance} is not a positive number")
    found = units.read_units(args.horizon, distance)
    fractions, strata = design.far_fractions(args.fraction, args.far_fraction)
    drawn = design.draw_selection(found, fractions, strata, args.seed)
    out = drawn[list(SELECTION_COLUMNS)]
    write_text_atomic(args.out, out.to_csv(index=False))
    print(f"{int(out['labelled'].sum())} of {len(out)} runs labelled "
          f"({int(out['exact'].sum())} exact, {int((out['labelled'] & ~out['exact']).sum())} "
          f"to continue, of them {int((out['labelled'] & out['far']).sum())} far from the "
          "golden state)")
    return 0


def _read_selection(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        selection = pd.read_csv(path, dtype={"id": str, "job": str})
    except (OSError, ValueError) as error:
        raise InputError(str(path), None, f"cannot be read as a selection ({error})") from None
    missing = [c for c in SELECTION_COLUMNS if c not in selection.columns]
    if missing:
        raise InputError(str(path), missing[0], "missing column")
    for column in ("exact", "far", "labelled"):
        if selection[column].dtype != bool:
            raise InputError(str(path), column, "not true/false")
    return selection


def labelled_units(horizon: list[str], selection_path: Path, table: Path) -> pd.DataFrame:
    """The units with their selection and, for the labelled ones, their outcome."""
    import pandas as pd

    from analysis.outcomes import INCOMPLETE
    from analysis.prediction import units

    found = units.read_units(horizon)
    selection = _read_selection(selection_path)
    if sorted(found["id"]) != sorted(selection["id"]):
        raise InputError(str(selection_path), "id", "not the ids of the horizon records")
    merged = found.merge(selection[["id", "exact", "probability", "labelled"]], on="id",
                         suffixes=("", "_selected"))
    if (merged["exact"] != merged["exact_selected"]).any():
        raise InputError(str(selection_path), "exact", "differs from the horizon records")
    try:
        results = pd.read_parquet(table, columns=["id", "outcome"])
    except (OSError, ValueError) as error:
        raise InputError(str(table), None, f"cannot be read ({error})") from None
    merged = merged.drop(columns="exact_selected").merge(results, on="id", how="left")
    lacking = merged[merged["labelled"] & (merged["outcome"].isna()
                                           | (merged["outcome"] == INCOMPLETE))]
    if len(lacking):
        raise InputError(str(table), "outcome",
                         f"no complete trace of labelled run {lacking['id'].iloc[0]}")
    merged.loc[~merged["labelled"], "outcome"] = None
    return merged


def cmd_rates(args: argparse.Namespace) -> int:
    from analysis.outcomes import outcomes
    from analysis.prediction import estimate, predictor, units

    check_output_dir(str(args.out_dir), "--out-dir")
    found = labelled_units(args.horizon, args.selection, args.table)
    classes = list(outcomes())
    predictions = predictor.cross_fit(found, list(units.PREDICTOR_FEATURES), classes,
                                      args.folds, args.seed)
    table = estimate.rates(found, predictions, classes, args.by or None, args.confidence)
    confusion = predictor.confusion_matrix(found, predictions, classes)
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "rates.csv", table.to_csv(index=False))
    write_text_atomic(out / "rates.md", estimate.rates_markdown(table))
    write_text_atomic(out / "confusion.csv", confusion.to_csv())
    write_text_atomic(out / "confusion.md", confusion_markdown(confusion))
    scored = found.copy()
    for index, name in enumerate(classes):
        scored[f"predicted_{name}"] = predictions[:, index]
    with atomic_path(out / "units.parquet") as tmp:
        scored.to_parquet(tmp, index=False)
    print(json.dumps({"units": len(found), "labelled": int(found["labelled"].sum()),
                      "exact": int(found["exact"].sum())}))
    return 0


def confusion_markdown(confusion: pd.DataFrame) -> str:
    """The predictor's confusion matrix as a Markdown table (rows: true, columns: predicted)."""
    head = ["true \\ predicted", *map(str, confusion.columns)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for name, row in confusion.iterrows():
        lines.append("| " + " | ".join([str(name), *(str(int(v)) for v in row)]) + " |")
    total = int(confusion.to_numpy().sum())
    right = int(sum(confusion.loc[c, c] for c in confusion.index if c in confusion.columns))
    return ("Outcome predictor on the continued runs (cross-fitted), "
            f"{right} of {total} right.\n\n" + "\n".join(lines) + "\n")
