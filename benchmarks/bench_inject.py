"""Side-by-side cost of one inject job (a batch of CSVs in one process) in three modes.

1. traced: the injection step traced per pass, every run trained to its end;
2. eager: the injection step run eagerly, every run trained to its end;
3. eager + early exit: as 2, runs back in the golden state stop (the default).

Each mode is one `python -m fi_core inject` process over the same CSVs; rounds interleave the
modes and the medians of wall and CPU time (user + system, from the kernel's accounting of the
child) are compared. Also printed: the steps trained, and those the early exit skipped.

    python benchmarks/bench_inject.py [--csvs 10] [--rounds 2] [--work results/bench_inject]

The first call makes a golden run of the small workload and draws the CSVs (campaign seed 2024,
as the default campaign) under --work; later calls reuse them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {
    "traced": ["--injection-step", "traced", "--no-early-exit"],
    "eager": ["--injection-step", "eager", "--no-early-exit"],
    "eager + early exit": ["--injection-step", "eager"],
}


def fi_core(*args: str) -> tuple[float, float]:
    """Run `python -m fi_core ARGS` with one thread; its wall and CPU seconds."""
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "fi_core", *args], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"fi_core {' '.join(args)} failed:\n{process.stderr.read()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def prepare(work: Path, count: int) -> tuple[Path, list[Path]]:
    golden = work / "golden" / "seed_123"
    if not (golden / "trace.json").is_file():
        fi_core("golden", "--workload", "resnet18_small", "--out", str(golden))
    csv_dir = work / "csv"
    if len(list(csv_dir.glob("inj_*.csv"))) < count:
        fi_core("generate", "--workload", "resnet18_small", "--n", str(count), "--seed", "2024",
                "--out", str(csv_dir))
    return golden, sorted(csv_dir.glob("inj_*.csv"))[:count]


def steps_of(trace_dir: Path) -> tuple[int, int]:
    """(steps trained, steps skipped by the early exit) over the traces of a folder."""
    trained = skipped = 0
    for path in trace_dir.glob("*.json"):
        record = json.loads(path.read_text())
        steps = len(record["steps"])
        rejoined = record.get("rejoined_golden")
        if rejoined:
            tail = sum(1 for s in record["steps"] if s["epoch"] > rejoined["epoch"])
            trained, skipped = trained + steps - tail, skipped + tail
        else:
            trained += steps
    return trained, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csvs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, default=ROOT / "results" / "bench_inject")
    args = parser.parse_args()
    golden, csvs = prepare(args.work, args.csvs)
    files = [item for csv in csvs for item in ("--file", str(csv))]
    times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    steps: dict[str, tuple[int, int]] = {}
    for _ in range(args.rounds):
        for mode, options in MODES.items():
            out = args.work / "traces" / mode.replace(" ", "_").replace("+", "")
            shutil.rmtree(out, ignore_errors=True)
            times[mode].append(fi_core("inject", *files, "--golden", str(golden),
                                       "--out-dir", str(out), *options))
            steps[mode] = steps_of(out)
    print(f"{len(csvs)} CSVs of the small workload per job, {args.rounds} rounds, medians")
    median = {mode: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v))
              for mode, v in times.items()}
    base_wall, base_cpu = median["traced"]
    for mode, (wall, cpu) in median.items():
        trained, skipped = steps[mode]
        print(f"  {mode:20s} wall {wall:6.1f} s  cpu {cpu:6.1f} s  "
              f"({wall / base_wall:.2f} / {cpu / base_cpu:.2f} of traced)  "
              f"steps trained {trained}, skipped {skipped}")


if __name__ == "__main__":
    main()
