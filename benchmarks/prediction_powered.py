"""Do prediction-powered campaigns keep their promise? A full campaign on the small workload (every
run to its end, its features recorded at the horizon too), resampled many times as if it had
been a prediction-powered one (issue 21). Prints, per label fraction, the cost of equal interval
width against the full campaign and the intervals' coverage, then one line:

    prediction-powered: core-hours for equal interval width X of the full campaign's;
    interval coverage Y (nominal 0.95)     (one line, then the fraction and horizon it holds for)

The resampled campaigns have --size runs (default 2401, the paper's campaign size), drawn
with replacement from the full campaign's runs, which stand for the fault space: a
prediction-powered interval's width has a part that shrinks like 1/N (where the labelled runs of
a stratum never show a class, it is widened to their Wilson interval), so the saving depends on
the campaign's size; the result at the full campaign's own size is printed too.

Costs are counted in measured seconds: the script times, side by side in one process, a
training step, an evaluation, the injection step, the golden state put back from memory, a
checkpoint restore and a state save on the same workload, and prices every run's steps and
evaluations with them (`unit_costs`).

    .venv/bin/python benchmarks/prediction_powered.py [--n 400] [--horizon 1] [--work DIR]

The campaign's folders are kept in --work (default results/benchmark_prediction) and reused when
the script runs again with the same arguments: only the resampling runs again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.stdout.reconfigure(line_buffering=True)  # lines as they come, also into a log

WORKLOAD = "resnet18_small"
SEEDS = (123, 124, 125)


def fi(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def run(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("w")
    return subprocess.Popen(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def wait(processes: list[subprocess.Popen], what: str) -> None:
    for process in processes:
        if process.wait() != 0:
            sys.exit(f"{what} failed (see its log)")


def campaign(work: Path, n: int, horizon: int, workers: int, seed: int) -> list[Path]:
    """Golden runs, CSVs and every injection run to its end with features at the horizon;
    each step skipped when its output is there. Returns the trace folders."""
    threads = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
               "OMP_NUM_THREADS": "1"}
    goldens = [work / "golden" / f"seed_{s}" for s in SEEDS]
    todo = [(s, g) for s, g in zip(SEEDS, goldens, strict=True) if not (g / "trace.json").is_file()]
    for start in range(0, len(todo), workers):
        wait([run(fi("fi_core", "golden", "--workload", WORKLOAD, "--set", f"seed={s}",
                     "--out", str(g)), work / "logs" / f"golden_{s}.log", threads)
              for s, g in todo[start:start + workers]], "a golden run")
    csv_dir = work / "csv"
    if not csv_dir.is_dir():
        wait([run(fi("fi_core", "generate", "--workload", WORKLOAD, "--n", str(n), "--seed",
                     str(seed), "--out", str(csv_dir)), work / "logs" / "generate.log")],
             "generate")
    csvs = sorted(csv_dir.glob("*.csv"))
    folders = [work / "traces" / f"job_{k}" for k in range(workers)]
    pending = []
    for k, folder in enumerate(folders):
        mine = csvs[k::workers]
        if all((folder / f"{c.stem}.json").is_file() for c in mine):
            continue
        files = [a for c in mine for a in ("--file", str(c))]
        pending.append(run(fi("fi_core", "inject", *files, "--golden", str(goldens[0]),
                              "--out-dir", str(folder), "--features-at", str(horizon)),
                           work / "logs" / f"inject_{k}.log", threads))
    wait(pending, "an inject job")
    table = work / "results.parquet"
    if not table.is_file():
        wait([run(fi("analysis", "collect", *map(str, folders), "--golden",
                     *(str(g / "trace.json") for g in goldens), "--out", str(table)),
                  work / "logs" / "collect.log")], "collect")
    return folders


def trained(record: dict) -> list[tuple[int, int]]:
    """(epoch, step) of every step the run trained itself (the golden tail of an early exit
    not)."""
    rejoined = record.get("rejoined_golden")
    last = rejoined["epoch"] if rejoined else None
    return [(s["epoch"], s["step"]) for s in record["steps"] if last is None or s["epoch"] <= last]


def full_table(work: Path, folders: list[Path], horizon: int) -> pd.DataFrame:
    """One row per run: its horizon features, its outcome, whether it ended by itself by its
    horizon (`exact`), and its steps and evaluations before and after the horizon."""
    from analysis.prediction import units as units_module

    found = units_module.read_units([str(f) for f in folders])
    outcome = pd.read_parquet(work / "results.parquet", columns=["id", "outcome"])
    found = found.merge(outcome, on="id", validate="one_to_one")
    rows = []
    for row in found.itertuples():
        record = json.loads((work / "traces" / row.job / f"{row.id}.json").read_text())
        steps = trained(record)
        last_epoch = steps[-1][0]
        epochs_done = [e["epoch"] for e in record["epochs"] if e["epoch"] <= last_epoch]
        h = row.inj_epoch + horizon - 1
        rows.append({
            "id": row.id,
            "exact": last_epoch <= h or h >= record["config"]["epochs"] - 1,
            "steps_h": sum(1 for e, _ in steps if e <= h),
            "evals_h": sum(1 for e in epochs_done if e <= h),
            "steps_rest": sum(1 for e, _ in steps if e > h),
            "evals_rest": sum(1 for e in epochs_done if e > h),
        })
    table = found.drop(columns="exact").merge(pd.DataFrame(rows), on="id")
    table["far"] = units_module.far_from_golden(table)
    return table


def unit_costs(golden: Path, csv: Path, repeats: int = 5) -> dict[str, float]:
    """Seconds of a training step, an evaluation, an injection step (traced: an inject job of
    this campaign holds more than `TRACE_AT` CSVs of each pass), the golden state put back from
    memory (how an inject job starts each run: `rejoin.GoldenRun` reads each checkpoint once per
    process), a checkpoint restore (how a continued run starts), a state save, the horizon's
    features, and the start of a process (TensorFlow imported, the model
    built, the step traced: a continue job's price), measured side by side in this process."""
    from fi_core.engine import data, tf_setup
    from fi_core.engine.train import Trainer
    from fi_core.replay import horizon_features
    from fi_core.spec import injection
    from fi_core.store import golden as golden_folder

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import tensorflow"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tf_import = time.perf_counter() - started
    tf_setup.start(False)
    folder = golden_folder.open_golden(golden)
    config = folder.config
    hit = injection.parse(csv)
    started = time.perf_counter()
    trainer = Trainer(config, data.load(config), traced_passes=frozenset({hit.pass_}))
    trainer.step(2, 0)
    process = tf_import + time.perf_counter() - started
    checkpoint = golden_folder.checkpoint_dir(golden, 1)

    def clock(action, n: int) -> float:
        action()  # warm: traced once, caches filled
        started = time.perf_counter()
        for _ in range(n):
            action()
        return (time.perf_counter() - started) / n

    scratch = Path(tempfile.mkdtemp())
    golden_state = [v.numpy() for v in trainer.state_variables]
    epoch_row = {"train_loss": 1.0, "train_accuracy": 0.5, "test_loss": 1.0,
                 "test_accuracy": 0.5}
    costs = {
        "step": clock(lambda: trainer.step(2, 1), 10 * repeats),
        "evaluation": clock(trainer.evaluate, repeats),
        "injection_step": clock(lambda: trainer.step(hit.epoch, hit.step, hit), repeats),
        "start": clock(lambda: [v.assign(g) for v, g in zip(trainer.state_variables,
                                                             golden_state, strict=True)],
                       repeats),
        "restore": clock(lambda: trainer.restore(checkpoint), repeats),
        "save": clock(lambda: trainer.save(scratch / "state", 1, {}), repeats),
        "features": clock(lambda: horizon_features.features(trainer, golden_state, epoch_row,
                                                            epoch_row), repeats),
        "process": process,
    }
    shutil.rmtree(scratch)
    return costs


def priced(table: pd.DataFrame, costs: dict[str, float], jobs_per_run: float) -> pd.DataFrame:
    """`cost_horizon` and `cost_rest` in seconds: a full run starts from the golden state (held
    in memory), takes the injection step and trains on; a run stopped at its horizon also
    computes its features and saves its state there, and a continued one restores that state
    from its checkpoint. The continue jobs' process
    starts are shared out over the runs (`jobs_per_run`: jobs per run of the campaign)."""
    out = table.copy()
    stopped = ~out["exact"]
    start = costs["start"] + costs["injection_step"] - costs["step"]
    out["cost_horizon"] = (start + out["steps_h"] * costs["step"]
                           + out["evals_h"] * costs["evaluation"]
                           + stopped * (costs["features"] + costs["save"])
                           + jobs_per_run * costs["process"])
    out["cost_rest"] = stopped * (costs["restore"] + out["steps_rest"] * costs["step"]
                                  + out["evals_rest"] * costs["evaluation"])
    return out


def priced_at_paper_size(table: pd.DataFrame, epochs: int, small_epochs: int, horizon: int,
                         steps_per_epoch: int) -> pd.DataFrame:
    """The same runs as if each had trained `epochs / small_epochs` times as many epochs after
    its fault (the paper's 40 epochs of 49 steps against this workload's 20 of 10), in epochs:
    a run stopped at its horizon costs H epochs to it and the rest after; a run that ended by
    itself costs what it cost (INF/NaN comes within steps of the fault, at any size)."""
    out = table.copy()
    scale = epochs / small_epochs
    after = (out["steps_h"] + out["steps_rest"]) / steps_per_epoch * scale
    stopped = ~out["exact"]
    out["cost_horizon"] = (out["steps_h"] / steps_per_epoch).where(~stopped, float(horizon))
    out["cost_rest"] = (after - horizon).clip(lower=0.0).where(stopped, 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="injections run (default 400)")
    parser.add_argument("--horizon", type=int, default=1, help="epoch ends (default 1)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2025, help="campaign seed")
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "benchmark_prediction")
    parser.add_argument("--fractions", type=lambda t: [float(v) for v in t.split(",")],
                        default=[0.1, 0.15, 0.2],
                        help="label fractions of the runs near the golden state "
                             "(default 0.1,0.15,0.2)")
    parser.add_argument("--size", type=int, default=2401,
                        help="runs of the resampled campaigns (default 2401, the paper's "
                             "campaign size; the full campaign's own size is reported too)")
    parser.add_argument("--far-fraction", type=float, default=1.0,
                        help="share continued of the runs far from the golden state (default 1)")
    parser.add_argument("--reps", type=int, default=300, help="resamples per fraction")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--paper-epochs", type=int, default=40,
                        help="epochs of the paper-size estimate (default 40)")
    args = parser.parse_args()
    started = time.monotonic()
    folders = campaign(args.work, args.n, args.horizon, args.workers, args.seed)
    print(f"campaign: {args.n} runs to their end, features at horizon {args.horizon} "
          f"({time.monotonic() - started:.0f} s, {args.work})")
    golden = args.work / "golden" / f"seed_{SEEDS[0]}"
    costs = unit_costs(golden, sorted((args.work / "csv").glob("*.csv"))[0])
    print("seconds, measured side by side: " + ", ".join(f"{k} {v:.4f}"
                                                         for k, v in costs.items()))
    table = priced(full_table(args.work, folders, args.horizon), costs,
                   args.workers / args.size)
    print(f"runs: {len(table)}, ended by themselves by the horizon: {int(table['exact'].sum())}; "
          "outcomes: " + ", ".join(f"{k} {v}" for k, v in table["outcome"].value_counts().items()))
    own_fraction, own = best_of(table, args, len(table))
    fraction, best = best_of(table, args, args.size)
    config = json.loads((golden / "trace.json").read_text())["config"]
    paper = priced_at_paper_size(table, args.paper_epochs, int(config["epochs"]), args.horizon,
                                 int(config["steps_per_epoch"]))
    at_paper = simulate(paper, args, fraction, args.size)
    print(f"at the full campaign's own size ({len(table)} runs): X {own.x:.2f}, coverage "
          f"{own.coverage:.3f} at label fraction {own_fraction}")
    print(f"estimate at paper size ({args.paper_epochs} epochs after the same faults, not run): "
          f"X {at_paper.x:.2f} at label fraction {fraction} (cost ratio "
          f"{at_paper.cost_ratio:.3f})")
    print(f"prediction-powered: core-hours for equal interval width {best.x:.2f} of the full "
          f"campaign's; interval coverage {best.coverage:.3f} (nominal 0.95)"
          f"  [campaigns of {args.size} runs, label fraction {fraction} (far runs "
          f"{args.far_fraction}), horizon "
          f"{args.horizon}, {best.reps} resamples]")


def simulate(table: pd.DataFrame, args: argparse.Namespace, fraction: float, size: int):
    """Resampled campaigns of `size` runs, each continuing `fraction` of the runs near the
    golden state at their horizon and `--far-fraction` of those far from it (the pipeline's
    draw, `design.far_fractions`)."""
    from analysis.outcomes import outcomes
    from analysis.prediction import design, resample, units

    fractions, strata = design.far_fractions(fraction, args.far_fraction)
    return resample.simulate(table, list(units.PREDICTOR_FEATURES), list(outcomes()),
                             fractions, args.reps, args.seed, folds=args.folds, size=size,
                             strata=strata)


def best_of(table: pd.DataFrame, args: argparse.Namespace, size: int):  # -> (float, Simulation)
    """Every label fraction at this campaign size; the cheapest whose intervals hold."""
    best = None
    for fraction in args.fractions:
        sim = simulate(table, args, fraction, size)
        print(f"{size} runs, label fraction {fraction} (far {args.far_fraction}): "
              f"cost ratio {sim.cost_ratio:.3f}, X {sim.x:.3f} (worst class {sim.worst_class}), "
              f"coverage {sim.coverage:.3f} "
              f"(+/- {sim.coverage_mc_se:.3f}, {sim.reps} resamples)")
        for row in sim.per_class.itertuples():
            if row.positives:
                print(f"    {row.outcome}: {row.positives} runs, coverage {row.coverage:.3f} "
                      f"(classical {row.classical_coverage:.3f}), width {row.width:.4f} vs "
                      f"full {row.full_width:.4f}, variance ratio {row.var_ratio:.2f}")
        if sim.coverage >= 0.93 and (best is None or sim.x < best[1].x):
            best = fraction, sim
    return best or (fraction, sim)


if __name__ == "__main__":
    main()
