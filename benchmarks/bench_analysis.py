"""Benchmark of the analysis package (a script, not a test): ingest rate and table-scale speed.

1. Writes synthetic JSON traces (the CPU default workload: 20 epochs x 12 steps) and times
   ``python -m analysis collect`` on them end to end (interpreter start, parse, check against
   the trace schema, classify, write results and curves), in traces per second; then
   ``python -m analysis status`` on the same traces laid out as a running campaign.
2. Writes a synthetic results table of 1,000,000 experiments and times reading it,
   classifying every row and computing all default grouped rates with all three interval
   methods, plus Goodman intervals per workload and stage.

    .venv/bin/python benchmarks/bench_analysis.py [--traces 5000] [--rows 1000000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

GROUPINGS = [["workload", "stage"], ["fmodel"], ["target_layer"], ["replica"], ["epoch_bucket"]]
FMODELS = ["INPUT", "WT", "RBFLIP", "RD", "RD_CORRECT", "ZERO", "N16_RD", "N64_INPUT"]
LAYERS = [f"basicblock_{b}_basic_{k}_conv{c}" for b in range(1, 5) for k in (0, 1) for c in (1, 2)]


def make_traces(directory: str, n: int, seed: int = 7) -> str:
    """Write one golden and n injection JSON traces; returns the golden path."""
    from analysis import synthetic as syn

    rng = random.Random(seed)
    golden = syn.golden_record("golden_bench")
    golden_path = os.path.join(directory, "golden.json")
    syn.write_json(golden_path, golden)
    traces = os.path.join(directory, "traces")
    os.makedirs(traces)
    for i in range(n):
        e, s = rng.randint(1, 19), rng.randint(0, 11)
        u = rng.random()
        kw: dict[str, object] = {}
        if u < 0.1:
            kw["nonfinite_at"] = (e, s)
        elif u < 0.2:
            kw["train"] = {-1: 0.5}
        rec = syn.injection_record(
            f"inj_{i:06d}", golden, e, s,
            stage=rng.choice(["fwrd_inject", "bkwd_inject"]), fmodel=rng.choice(FMODELS),
            injected=[10 ** rng.uniform(-3, 30)], **kw,
        )  # fmt: skip
        with open(os.path.join(traces, f"inj_{i:06d}.json"), "w") as fh:
            fh.write(syn.json_text(rec))
    return golden_path


def _collect(tmp: str, golden: str, jobs: int, code: str) -> tuple[float, float, float]:
    """`python -m analysis collect` of the analysis package in checkout ``code``:
    (wall seconds, CPU seconds of all its processes, peak RSS in MB)."""
    cmd = [sys.executable, "-m", "analysis", "collect", os.path.join(tmp, "traces"),
           "--golden", golden, "--out", os.path.join(tmp, "r.parquet"),
           "--curves", os.path.join(tmp, "c.parquet"), "--jobs", str(jobs)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": code}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=code, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"collect ({code}) failed ({proc.returncode}): {proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss of RUSAGE_CHILDREN: the largest of the collect process and its workers.
    return wall, cpu, after.ru_maxrss / 1024


def bench_ingest(n: int, jobs: int, compare_with: str | None = None) -> dict[str, float]:
    """Run `python -m analysis collect` on n synthetic traces; wall and CPU time (the best of
    two runs, alternating with the other checkout's when one is given, so that both see the
    same load). Then `python -m analysis status` on them as a campaign's folder (with n + n/4
    CSVs planned)."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        golden = make_traces(tmp, n)
        runs: dict[str, list[tuple[float, float, float]]] = {"here": [], "other": []}
        for _ in range(2):
            runs["here"].append(_collect(tmp, golden, jobs, ROOT))
            if compare_with:
                runs["other"].append(_collect(tmp, golden, jobs, compare_with))
        wall, cpu, rss = min(runs["here"])
        out.update(rate=n / wall, wall=wall, cpu=cpu, rss_mb=rss)
        if compare_with:
            other_wall, other_cpu, _ = min(runs["other"])
            out.update(other_rate=n / other_wall, other_cpu=other_cpu)
        os.makedirs(os.path.join(tmp, "csv"))
        for i in range(n + n // 4):
            with open(os.path.join(tmp, "csv", f"inj_{i:06d}.csv"), "w") as fh:
                fh.write("model,resnet18\n")
        cmd = [sys.executable, "-m", "analysis", "status", tmp, "--golden", golden,
               "--jobs", str(jobs)]  # fmt: skip
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        out["status_s"] = time.perf_counter() - t0
        if proc.returncode != 0 or f"{n} done" not in proc.stdout:
            raise SystemExit(f"status failed ({proc.returncode}): {proc.stderr}{proc.stdout}")
    return out


def make_table(path: str, rows: int, seed: int = 11) -> None:
    """A results table of ``rows`` experiments with realistic feature values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from analysis.table import RESULT_SCHEMA

    rng = np.random.default_rng(seed)
    spe = 49
    inj_epoch = rng.integers(1, 80, rows)
    inj_step = rng.integers(0, spe, rows)
    inj_global = inj_epoch * spe + inj_step
    nonfinite = rng.random(rows) < 0.08
    delay = np.where(rng.random(rows) < 0.7, 0, rng.integers(1, 400, rows))
    ref_train, ref_test = 0.894, 0.832
    big = (rng.random(rows) < 0.05) * rng.uniform(0, 0.8, rows)
    drop = np.abs(rng.normal(0, 0.02, rows)) + big
    final_train = np.clip(ref_train - drop, 0.1, 1)
    final_test = np.clip(ref_test - drop - (rng.random(rows) < 0.01) * 0.2, 0.1, 1)
    cols = {
        "trace": pa.array([f"results/traces/inj_{i:07d}.json" for i in range(rows)]),
        "id": pa.array([f"inj_{i:07d}" for i in range(rows)]),
        "complete": pa.array(rng.random(rows) > 0.001),
        "workload": pa.array(rng.choice(["resnet18", "resnet18_nobn", "resnet18_sgd"], rows)),
        "stage": pa.array(rng.choice(["fwrd_inject", "bkwd_inject"], rows)),
        "fmodel": pa.array(rng.choice(FMODELS, rows)),
        "target_layer": pa.array(rng.choice(LAYERS, rows)),
        "replica": pa.array(rng.integers(0, 8, rows).astype(np.int32)),
        "is_backward": pa.array(rng.random(rows) < 0.5),
        "num_classes": pa.array(np.full(rows, 10, dtype=np.int32)),
        "steps_per_epoch": pa.array(np.full(rows, spe, dtype=np.int32)),
        "epochs": pa.array(np.full(rows, 80, dtype=np.int32)),
        "inj_epoch": pa.array(inj_epoch.astype(np.int32)),
        "inj_step": pa.array(inj_step.astype(np.int32)),
        "inj_global_step": pa.array(inj_global),
        "first_nonfinite_epoch": pa.array(
            ((inj_global + delay) // spe).astype(np.int32), mask=~nonfinite
        ),
        "nonfinite_delay_steps": pa.array(delay, mask=~nonfinite),
        "final_train_accuracy": pa.array(final_train, mask=nonfinite),
        "final_test_accuracy": pa.array(final_test, mask=nonfinite),
        "early_min_train_accuracy": pa.array(final_train, mask=nonfinite),
        "ref_train_accuracy": pa.array(np.full(rows, ref_train)),
        "ref_test_accuracy": pa.array(np.full(rows, ref_test)),
        "band_spread_train": pa.array(np.full(rows, 0.004)),
        "band_spread_test": pa.array(np.full(rows, 0.006)),
        "outcome": pa.array(np.full(rows, "Masked")),
    }
    arrays = [cols[f.name] if f.name in cols else pa.nulls(rows, f.type) for f in RESULT_SCHEMA]
    pq.write_table(pa.Table.from_arrays(arrays, schema=RESULT_SCHEMA), path, compression="zstd")


def bench_table(rows: int) -> float:
    """Seconds to read the table, classify every row and compute all grouped rates."""
    from analysis.groups import distribution_with_goodman, grouped_rates, outcome_counts
    from analysis.outcomes import FEATURE_COLUMNS, Thresholds, classify_frame
    from analysis.stats import METHODS
    from analysis.table import read_results

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as devnull:
        path = os.path.join(tmp, "results.parquet")
        make_table(path, rows)
        t0 = time.perf_counter()
        extra = {"workload", "stage", "fmodel", "target_layer", "replica", "inj_epoch"}
        df = read_results(path, sorted({*FEATURE_COLUMNS, *extra}))
        df["outcome"] = classify_frame(df, Thresholds())
        n_out = 0
        for by in GROUPINGS:
            for method in METHODS:
                rates = grouped_rates(df, by, method, 0.95, skip_empty=True, log=devnull)
                n_out += len(rates)
        counts = outcome_counts(df, ["workload", "stage"])
        for _, row in counts.iterrows():
            distribution_with_goodman(row, 0.95)
        elapsed = time.perf_counter() - t0
        assert n_out > 0
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=5000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--compare-with",
        default=None,
        metavar="CHECKOUT",
        help="another checkout of the project (e.g. the main branch): its collect is timed on "
        "the same traces, alternating with this one's, and the ratio printed",
    )
    args = parser.parse_args()
    ingest = bench_ingest(args.traces, args.jobs, args.compare_with)
    table_s = bench_table(args.rows)
    ingest_label = f"traces ingested per second ({args.traces:,} JSON traces, {args.jobs} jobs)"
    table_label = f"classify + all grouped rates and intervals, {args.rows:,} rows"
    rate_text = "{:,.0f}/s".format(ingest["rate"])
    table_text = f"{table_s:.1f} s"
    print(f"{'measure':<62}{'measured':>12}{'goal':>14}")
    print(f"{ingest_label:<62}{rate_text:>12}{'>= 1,000/s':>14}")
    print(f"{table_label:<62}{table_text:>12}{'<= 60 s':>14}")
    status_label = f"status of a running campaign ({args.traces:,} traces, {args.jobs} jobs)"
    status_text = "{:.1f} s".format(ingest["status_s"])
    print(f"{status_label:<62}{status_text:>12}{'seconds':>14}")
    if args.compare_with:
        other = "{:,.0f}/s".format(ingest["other_rate"])
        print(f"{'same traces, collect of ' + args.compare_with:<62}{other:>12}")
        print(
            f"{'ratio, this checkout / the other (wall; CPU)':<62}"
            f"{ingest['rate'] / ingest['other_rate']:>11.2f}x"
            f"{ingest['other_cpu'] / ingest['cpu']:>13.2f}x"
        )
    print(
        f"(collect: {ingest['wall']:.1f} s wall including interpreter start, "
        f"{ingest['cpu']:.1f} CPU-s in all its processes = "
        f"{args.traces / ingest['cpu']:,.0f} traces per CPU-second; "
        f"peak RSS {ingest['rss_mb']:,.0f} MB; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, shared)"
    )


if __name__ == "__main__":
    main()
