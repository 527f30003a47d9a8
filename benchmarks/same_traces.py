"""Are the traces of this checkout those of another commit, byte for byte? (a script, not a
test: it trains the same runs twice, once per tree).

Why: the engine is to be rearranged (issue 20) with behaviour unchanged, and TensorFlow's
numerics differ between CPUs from the third decimal on, so fixed expected files cannot travel
between machines; two trees on one machine can be compared exactly. The reference tree is
exported with `git archive`, and each tree runs, in the same folder so that every path in the
traces is the same: a micro golden run (resnet18_small, 3 epochs, seed 123), then every CSV of
`benchmarks/recorded/` against it (forward and backward passes, grad_in and grad_wt, conv and
dense sites, _GLB and listed positions, runs that diverge, that rejoin the golden run and that
train on). The golden trace, every text trace and every JSON record are compared; the JSON
without `wall_time_s` and fi_core's version string. One line per differing file, then:

    same traces: 24 of 24 files identical (reference <rev>, this checkout)

    .venv/bin/python benchmarks/same_traces.py [--reference main] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "benchmarks" / "recorded"
VOLATILE = ("wall_time_s",)


def export(rev: str, into: Path) -> Path:
    """The tree of commit `rev`, as files (no git checkout is touched)."""
    archive = into / "reference.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev],
                       stdout=handle, check=True)
    tree = into / "reference"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    archive.unlink()
    return tree


def run_tree(tree: Path, work: Path, csvs: list[Path]) -> None:
    """Golden run and replays with `tree`'s fi_core, in `work` (emptied first)."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    python = [sys.executable, "-m", "fi_core"]
    subprocess.run([*python, "golden", "--workload", "resnet18_small", "--set", "epochs=3",
                    "--out", str(work / "golden" / "seed_123")], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    files = [arg for csv in csvs for arg in ("--file", str(csv))]
    subprocess.run([*python, "inject", *files, "--golden", str(work / "golden" / "seed_123"),
                    "--out-dir", str(work / "traces")], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fi_core = subprocess.run([sys.executable, "-c", "import fi_core; print(fi_core.__file__)"],
                             cwd=tree, env=env, check=True, capture_output=True, text=True)
    if not fi_core.stdout.startswith(str(tree)):
        raise SystemExit(f"same_traces: {tree} did not provide fi_core ({fi_core.stdout})")


def comparable(path: Path) -> bytes:
    if path.suffix != ".json":
        return path.read_bytes()
    record = json.loads(path.read_text())
    for key in VOLATILE:
        record.pop(key, None)
    record.get("versions", {}).pop("fi_core", None)
    return json.dumps(record, sort_keys=True).encode()


def traces_of(work: Path) -> dict[str, bytes]:
    found = {f"golden/{p.name}": comparable(p) for p in (work / "golden" / "seed_123").glob(
        "trace.*")}
    found.update({f"traces/{p.name}": comparable(p) for p in (work / "traces").iterdir()})
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default="main", help="commit to compare with")
    parser.add_argument("--keep", type=Path, default=None, help="keep both runs' files here")
    args = parser.parse_args()
    csvs = sorted(RECORDED.glob("*.csv"))
    with tempfile.TemporaryDirectory(prefix="same-traces-") as tmp:
        base = Path(tmp)
        reference = export(args.reference, base)
        work = base / "run"  # both trees run here, one after the other: the same paths
        run_tree(reference, work, csvs)
        before = traces_of(work)
        if args.keep:
            shutil.copytree(work, args.keep / "reference", dirs_exist_ok=True)
        run_tree(ROOT, work, csvs)
        after = traces_of(work)
        if args.keep:
            shutil.copytree(work, args.keep / "checkout", dirs_exist_ok=True)
    differing = sorted(name for name in before.keys() | after.keys()
                       if before.get(name) != after.get(name))
    for name in differing:
        print(f"differs: {name}")
    total = len(before.keys() | after.keys())
    print(f"same traces: {total - len(differing)} of {total} files identical "
          f"(reference {args.reference}, this checkout)")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
