"""Benchmark of the pipeline (a script, not a test): one campaign from a clean results folder,
`snakemake --cores N`, with the injections cut into jobs in different ways, side by side.

Each variant runs the whole workflow (golden runs, CSVs, injections, table, rates, figures) in
its own temporary folder; the variants alternate over the repeats, so that other load on the
machine falls on all of them alike. It prints each variant's wall time and CPU time (the
median over the repeats), their ratio to the first variant, and whether every variant gave the
same outcome for every injection id (it must).

    .venv/bin/python benchmarks/bench_pipeline.py                       # batch 10 vs workers 2
    .venv/bin/python benchmarks/bench_pipeline.py --variant batch=10 --variant workers=2 \\
        --variant batch=30 --repeats 2 --cores 2 --configfile config/config.yaml
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def parse_variant(text: str) -> dict:
    key, _, value = text.partition("=")
    if key not in ("batch", "workers") or not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected batch=N or workers=N")
    return {"batch": 10, "workers": None} | {key: int(value)}


def run_variant(inject: dict, configfile: Path, cores: int, keep: bool) -> tuple[float, float,
                                                                                  dict]:
    """Wall and CPU seconds of one clean run, and {id: outcome} of its campaigns."""
    work = Path(tempfile.mkdtemp(prefix="bench_pipeline_"))
    overlay = work / "split.yaml"
    overlay.write_text(yaml.safe_dump({"inject": inject}))
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    command = [str(SNAKEMAKE), "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work),
               "--configfile", str(configfile), str(overlay), "--cores", str(cores), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"snakemake failed in {work}:\n{result.stderr[-3000:]}")
    import pandas as pd

    outcomes = {}
    for table in sorted(work.glob("results/*/results.parquet")):
        df = pd.read_parquet(table, columns=["id", "outcome"])
        outcomes.update({f"{table.parent.name}/{i}": o for i, o in zip(df["id"], df["outcome"],
                                                                      strict=True)})
    if not keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", action="append", type=parse_variant, default=None,
                        help="batch=N or workers=N (repeatable; default batch=10, workers=2)")
    parser.add_argument("--configfile", type=Path, default=ROOT / "config" / "config.yaml")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    variants = args.variant or [parse_variant("batch=10"), parse_variant("workers=2")]
    walls: list[list[float]] = [[] for _ in variants]
    cpus: list[list[float]] = [[] for _ in variants]
    outcomes: list[dict] = [{} for _ in variants]
    for repeat in range(args.repeats):
        order = range(len(variants)) if repeat % 2 == 0 else reversed(range(len(variants)))
        for i in order:
            wall, cpu, seen = run_variant(variants[i], args.configfile, args.cores, args.keep)
            walls[i].append(wall)
            cpus[i].append(cpu)
            outcomes[i] = seen
            print(f"repeat {repeat + 1}: {variants[i]}: {wall:.1f} s wall, {cpu:.1f} s CPU",
                  flush=True)
    base = statistics.median(walls[0])
    for variant, wall, cpu in zip(variants, walls, cpus, strict=True):
        w = statistics.median(wall)
        print(f"{variant}: {w:.1f} s wall ({w / 60:.2f} min), {statistics.median(cpu):.1f} s "
              f"CPU, {w / base:.2f}x the first")
    same = all(o == outcomes[0] for o in outcomes[1:])
    print(f"identical outcomes for all {len(outcomes[0])} injections: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
