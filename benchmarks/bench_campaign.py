"""Experiments per core-hour: the engine's best mode against the artifact's way, side by side.

The same CSVs (a campaign drawn as the default campaign draws it) are replayed against the same
golden run twice, one thread per process, CPU time from the kernel's accounting:

- artifact-like: one process per CSV (TensorFlow starts and traces for every experiment), the
  injection step traced, every run trained to its end (`--injection-step traced
  --no-early-exit`), as the artifact's `reproduce_injections.py` runs one CSV per process;
- best: every CSV in one process, the injection step eager, runs back in the golden state stopped
  at the epoch end where they rejoin it (fi-core inject's defaults).

The text traces of the two modes must be byte-identical (the early exit and the eager step do not
change a result). The floor is the training the best mode really did, at the fault-free step's
speed measured in this run: steps trained x the median compiled fault-free step time. The last
line is exactly:

    experiments per core-hour: best <x>, artifact-like <y>, ratio <r>; efficiency <e>

where efficiency = floor / the best mode's CPU time. Goals: ratio >= 5, efficiency >= 0.9.

    python benchmarks/bench_campaign.py [--csvs 20] [--workload resnet18_small] [--set F=V ...]
        [--data-dir D] [--work results/bench_campaign]

`--workload resnet18 --data-dir <CIFAR-10>` gives the paper-size figures (an accelerator-sized
job: one paper-size step takes seconds on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

os.environ.update(TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from bench_inject import fi_core  # noqa: E402


def prepare(work: Path, workload: str, sets: list[str], data: list[str],
            count: int) -> tuple[Path, list[Path]]:
    """A golden run and `count` CSVs under `work` (reused by later calls)."""
    golden = work / "golden"
    if not (golden / "trace.json").is_file():
        shutil.rmtree(golden, ignore_errors=True)
        fi_core("golden", "--workload", workload, *sets, "--out", str(golden), *data)
    csv_dir = work / f"csv_{count}"
    if len(list(csv_dir.glob("inj_*.csv"))) != count:
        shutil.rmtree(csv_dir, ignore_errors=True)
        fi_core("generate", "--workload", workload, *sets, "--n", str(count), "--seed", "2024",
                "--out", str(csv_dir))
    return golden, sorted(csv_dir.glob("inj_*.csv"))


def steps_trained(trace: Path) -> int:
    """Steps a run really trained (a rejoined run's golden tail was copied, not trained)."""
    record = json.loads(trace.read_text())
    rejoined = (record.get("rejoined_golden") or {}).get("epoch")
    return sum(1 for s in record["steps"] if rejoined is None or s["epoch"] <= rejoined)


def fault_free_step_seconds(golden: Path, data_dir: Path | None, steps: int = 20) -> float:
    """The median CPU time of the compiled fault-free step, one thread, after tracing (CPU
    time, as the modes are measured: the machine's load does not inflate it)."""
    from fi_core.engine import tf_setup

    tf_setup.start(verbose=False)
    from fi_core.engine import data, train
    from fi_core.store import golden as golden_run

    _, config = golden_run.read_workload(golden)
    trainer = train.Trainer(config, data.load(config, data_dir))
    trainer.restore(golden / "epoch_0")
    trainer.step(1, 0)  # trace
    times = []
    for index in range(steps):
        step = (index + 1) % config.steps_per_epoch
        start = time.process_time()
        trainer.step(1, step)
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csvs", type=int, default=20, help="experiments (at least 10)")
    parser.add_argument("--workload", default="resnet18_small")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("results/bench_campaign"))
    args = parser.parse_args()
    if args.csvs < 10:
        parser.error("--csvs must be at least 10")
    sets = [a for pair in args.set for a in ("--set", pair)]
    data = ["--data-dir", str(args.data_dir)] if args.data_dir else []
    golden, csvs = prepare(args.work, args.workload, sets, data, args.csvs)
    out = {mode: args.work / mode for mode in ("artifact", "best")}
    for folder in out.values():
        shutil.rmtree(folder, ignore_errors=True)

    artifact_cpu = artifact_wall = 0.0
    for csv in csvs:
        wall, cpu = fi_core("inject", "--file", str(csv), "--golden", str(golden), "--out-dir",
                            str(out["artifact"]), "--injection-step", "traced",
                            "--no-early-exit", *data)
        artifact_cpu, artifact_wall = artifact_cpu + cpu, artifact_wall + wall
    files = [a for csv in csvs for a in ("--file", str(csv))]
    best_wall, best_cpu = fi_core("inject", *files, "--golden", str(golden), "--out-dir",
                                  str(out["best"]), *data)

    differing = [csv.stem for csv in csvs
                 if (out["artifact"] / f"{csv.stem}.txt").read_bytes()
                 != (out["best"] / f"{csv.stem}.txt").read_bytes()]
    trained = sum(steps_trained(out["best"] / f"{csv.stem}.json") for csv in csvs)
    full = sum(steps_trained(out["artifact"] / f"{csv.stem}.json") for csv in csvs)
    step_time = fault_free_step_seconds(golden, args.data_dir)
    floor = trained * step_time

    best_rate = len(csvs) / (best_cpu / 3600)
    artifact_rate = len(csvs) / (artifact_cpu / 3600)
    print(f"workload {args.workload}, {len(csvs)} CSVs, one thread per process")
    print(f"  artifact-like: {artifact_cpu:8.1f} s CPU, {artifact_wall:8.1f} s wall, "
          f"{full} steps trained")
    print(f"  best:          {best_cpu:8.1f} s CPU, {best_wall:8.1f} s wall, {trained} steps "
          f"trained ({full - trained} skipped by the early exit)")
    print(f"  fault-free step {step_time * 1000:.1f} ms CPU: floor {floor:.1f} s")
    print(f"  text traces identical in both modes: "
          f"{'yes' if not differing else 'NO: ' + ', '.join(differing)}")
    print(f"experiments per core-hour: best {best_rate:.0f}, artifact-like {artifact_rate:.0f}, "
          f"ratio {best_rate / artifact_rate:.2f}; efficiency {floor / best_cpu:.2f}")


if __name__ == "__main__":
    main()
