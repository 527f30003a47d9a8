"""Helpers of the pipeline tests: the repository, Snakemake runs in a temporary working
directory, the workflow's configuration check run in-process, a fake CIFAR-10 archive and a
local HTTP server on 127.0.0.1."""

from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
DEFAULT_CONFIG = REPO / "config" / "config.yaml"

# The workflow's own Python (what workflow/rules/common.smk imports).
sys.path.insert(0, str(REPO / "workflow" / "lib"))

import fi_pipeline  # noqa: E402


def in_process_asker(tool: str, request: dict) -> dict:
    """The same checks as `python -m <tool> check-config`, without a process per question:
    the function that command runs, its refusal turned into the line it would print."""
    if tool == "fi_core":
        from fi_core.commands.check import check_request
        from fi_core.spec.errors import BadInput as Refusal
    else:
        from analysis.config_check import check_request
        from analysis.errors import InputError as Refusal
    try:
        return json.loads(json.dumps(check_request(request)))
    except Refusal as error:
        raise fi_pipeline.ConfigError.from_line(str(error)) from None


def load_plan(config: dict, cwd: Path | None = None) -> fi_pipeline.Plan:
    """fi_pipeline.load, as the Snakefile runs it, in `cwd` (relative csv_dir paths)."""
    old = Path.cwd()
    os.chdir(cwd or REPO)
    try:
        return fi_pipeline.load(config, in_process_asker)
    finally:
        os.chdir(old)


def tool_ready(module: str) -> bool:
    """True when `python -m <module> --help` works (the package exists and has a CLI)."""
    if importlib.util.find_spec(module) is None:
        return False
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    return result.returncode == 0


@functools.cache
def engine_and_analysis_ready() -> bool:
    return tool_ready("fi_core") and tool_ready("analysis")


def require_engine() -> None:
    """Fail early, with one clear message, when fi_core or analysis has no working CLI."""
    if not engine_and_analysis_ready():
        pytest.fail("`python -m fi_core --help` or `python -m analysis --help` does not work")


def subprocess_env() -> dict[str, str]:
    """The environment of a Snakemake subprocess: the venv first on PATH, no proxies."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    for key in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        env.pop(key, None)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = None,
    timeout: float = 900,
    check: bool = False,
) -> subprocess.CompletedProcess:
    """Run the repository's workflow in `workdir` (its own results/, logs/, .snakemake/)."""
    cmd = [SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    result = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env=subprocess_env(), cwd=workdir
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-8000:]}"
        )
    return result


# ---------------------------------------------------------------- a fake CIFAR-10 archive


def cifar_batch(n: int, seed: int) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": f"batch {seed}".encode(),
        b"labels": [int(x) for x in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{seed}_{i}.png".encode() for i in range(n)],
    }
    return pickle.dumps(batch, protocol=2)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def make_cifar_archive(path: Path, n: int = 20, extra: dict[str, bytes] | None = None) -> Path:
    """A .tar.gz laid out like CIFAR-10's python archive (cifar-10-batches-py/...)."""
    with tarfile.open(path, "w:gz") as tar:
        for i in range(1, 6):
            _add_bytes(tar, f"cifar-10-batches-py/data_batch_{i}", cifar_batch(n, i))
        _add_bytes(tar, "cifar-10-batches-py/test_batch", cifar_batch(n, 0))
        meta = {b"label_names": [f"class{i}".encode() for i in range(10)]}
        _add_bytes(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
        for name, data in (extra or {}).items():
            _add_bytes(tar, name, data)
    return path


def digest(path: Path, algo: str = "md5") -> str:
    return f"{algo}:{hashlib.new(algo, path.read_bytes()).hexdigest()}"


CIFAR_EXPECT = [f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)] + [
    "cifar-10-batches-py/test_batch"
]


# ---------------------------------------------------------------- a local HTTP server


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    failures: dict[str, int] = {}  # noqa: RUF012  (per-server copy set in the fixture)
    requests: list[str] = []  # noqa: RUF012

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.requests.append(self.path)
        left = self.failures.get(self.path, 0)
        if left:
            self.failures[self.path] = left - 1
            self.send_error(503, "try again")
            return
        super().do_GET()


class LocalServer:
    def __init__(self, root: Path):
        self.root = root
        handler = type("Handler", (_QuietHandler,), {"failures": {}, "requests": []})
        self.handler = handler
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def fail_next(self, name: str, times: int) -> None:
        self.handler.failures[f"/{name}"] = times

    @property
    def requests(self) -> list[str]:
        return self.handler.requests
