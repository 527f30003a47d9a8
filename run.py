#!/usr/bin/env python3
"""One entry point for a fresh machine: create `.venv` if needed, then run the campaign or tests.

Only the standard library is used here, so `python3 run.py ...` works on a machine that has
nothing but Python 3.11. The environment is rebuilt when `pyproject.toml` or
`requirements/constraints.txt` change (their hash is kept in `.venv/.fi-stamp`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".fi-stamp"
INPUTS = [ROOT / "pyproject.toml", ROOT / "requirements" / "constraints.txt"]
EXTRAS = "cpu,analysis,pipeline,dev"


def _bin(name: str) -> Path:
    return VENV / "bin" / name


def _inputs_hash() -> str:
    digest = hashlib.sha256()
    for path in INPUTS:
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def ensure_env() -> None:
    """Create or refresh `.venv` so that it matches pyproject.toml and the pinned constraints."""
    wanted = _inputs_hash()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and _bin("python").exists():
        return
    if not _bin("python").exists():
        print(f"run.py: creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(_bin("python")), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    constraints = ROOT / "requirements" / "constraints.txt"
    extra = ["-c", str(constraints)] if constraints.exists() else []
    print("run.py: installing the project and its dependencies into .venv", flush=True)
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, *extra, "-e", f"{ROOT}[{EXTRAS}]"], check=True)
    STAMP.write_text(wanted + "\n")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def main(argv: list[str]) -> int:
    usage = "usage: python3 run.py {setup|campaign|test} [extra arguments]"
    if not argv or argv[0] not in {"setup", "campaign", "test"}:
        print(usage, file=sys.stderr)
        return 2
    ensure_env()
    command, extra = argv[0], argv[1:]
    if command == "setup":
        return 0
    if command == "test":
        return subprocess.run([str(_bin("python")), "-m", "pytest", *extra], cwd=ROOT,
                              env=_env()).returncode
    snakemake = [str(_bin("snakemake")), "--cores", "2", *extra]
    code = subprocess.run(snakemake, cwd=ROOT, env=_env()).returncode
    if code != 0:
        return code
    report = ROOT / "results" / "report.html"
    return subprocess.run([str(_bin("snakemake")), "--report", str(report), *extra], cwd=ROOT,
                          env=_env()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
