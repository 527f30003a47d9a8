"""The download rule, offline: a local HTTP server on 127.0.0.1 serves archives in CIFAR-10's
python format. A good checksum passes and extracts; a wrong checksum, a broken archive, a
path-traversal member or an unreachable server fail with one clear line and leave no file."""

from __future__ import annotations

import pickle
import subprocess
import sys
import tarfile

import pytest

from .pipeline_helpers import (
    CIFAR_EXPECT,
    REPO,
    digest,
    make_cifar_archive,
    run_snakemake,
    subprocess_env,
    write_config,
)

SCRIPT = REPO / "workflow" / "scripts" / "download.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def cifar(http_server):
    archive = make_cifar_archive(http_server.root / "cifar-10-python.tar.gz")
    return http_server, archive


@pytest.mark.parametrize("algo", ["md5", "sha256"])
def test_good_checksum_extracts(tmp_path, cifar, algo):
    server, archive = cifar
    out = tmp_path / "datasets" / "cifar10"
    expect = [arg for path in CIFAR_EXPECT for arg in ("--expect", path)]
    result = run_script(
        "--url",
        server.url(archive.name),
        "--checksum",
        digest(archive, algo),
        "--out",
        str(out),
        *expect,
    )
    assert result.returncode == 0, result.stderr
    batch = pickle.loads((out / "cifar-10-batches-py" / "data_batch_3").read_bytes())
    assert batch[b"data"].shape == (20, 3072)
    assert len(batch[b"labels"]) == 20
    # Nothing but the extracted tree: no archive, no temporary folder.
    assert leftovers(out.parent) == ["cifar10"]
    assert leftovers(out) == ["cifar-10-batches-py"]


def test_wrong_checksum_fails_cleanly(tmp_path, cifar):
    server, archive = cifar
    out = tmp_path / "datasets" / "cifar10"
    wrong = "md5:" + "0" * 32
    result = run_script("--url", server.url(archive.name), "--checksum", wrong, "--out", str(out))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert "checksum mismatch" in lines[-1]
    assert f"expected {'0' * 32}" in lines[-1]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert leftovers(out.parent) == []


def test_path_traversal_member_is_refused(tmp_path, http_server):
    archive = make_cifar_archive(
        http_server.root / "evil.tar.gz", extra={"../escaped.txt": b"gotcha"}
    )
    out = tmp_path / "datasets" / "cifar10"
    result = run_script(
        "--url", http_server.url(archive.name), "--checksum", digest(archive), "--out", str(out)
    )
    assert result.returncode == 1
    assert "would escape the target folder" in result.stderr.strip().splitlines()[-1]
    assert not out.exists()
    assert leftovers(out.parent) == []
    assert not list(tmp_path.rglob("escaped.txt"))


def test_absolute_and_link_members_are_refused(tmp_path, http_server):
    archive = http_server.root / "links.tar"
    with tarfile.open(archive, "w") as tar:
        link = tarfile.TarInfo("cifar-10-batches-py/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../../etc/passwd"
        tar.addfile(link)
    out = tmp_path / "datasets" / "links"
    result = run_script(
        "--url", http_server.url(archive.name), "--checksum", digest(archive), "--out", str(out)
    )
    assert result.returncode == 1
    assert "links outside the target folder" in result.stderr
    assert leftovers(out.parent) == []


def test_broken_archive_fails_cleanly(tmp_path, http_server):
    good = make_cifar_archive(tmp_path / "good.tar.gz")
    broken = http_server.root / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    out = tmp_path / "datasets" / "cifar10"
    result = run_script(
        "--url", http_server.url(broken.name), "--checksum", digest(broken), "--out", str(out)
    )
    assert result.returncode == 1
    assert "broken archive" in result.stderr.strip().splitlines()[-1]
    assert leftovers(out.parent) == []


def test_network_errors_are_retried(tmp_path, cifar):
    server, archive = cifar
    server.fail_next(archive.name, 2)  # two 503s, then the file
    out = tmp_path / "datasets" / "cifar10"
    result = run_script(
        "--url",
        server.url(archive.name),
        "--checksum",
        digest(archive),
        "--out",
        str(out),
        "--retries",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert server.requests.count(f"/{archive.name}") == 3
    assert "retrying" in result.stderr
    assert (out / "cifar-10-batches-py" / "test_batch").is_file()


def test_unreachable_server_fails_after_retries(tmp_path, cifar):
    server, archive = cifar
    server.fail_next(archive.name, 10)
    out = tmp_path / "datasets" / "cifar10"
    result = run_script(
        "--url",
        server.url(archive.name),
        "--checksum",
        digest(archive),
        "--out",
        str(out),
        "--retries",
        "1",
    )
    assert result.returncode == 1
    assert "after 2 attempts" in result.stderr.strip().splitlines()[-1]
    assert leftovers(out.parent) == []


def _download_config(tmp_path, url, checksum):
    return write_config(
        tmp_path / "config.yaml",
        {
            "run": ["c"],
            "workloads": {"paper": {"preset": "resnet18"}},
            "campaigns": {"c": {"workload": "paper", "n": 1}},
            "datasets": {"cifar10": {"url": url, "checksum": checksum, "expect": CIFAR_EXPECT}},
        },
    )


def test_download_rule_through_snakemake(tmp_path, cifar):
    """The real rule, with the URL and checksum overridden by the config."""
    server, archive = cifar
    work = tmp_path / "work"
    work.mkdir()

    bad = _download_config(tmp_path, server.url(archive.name), "sha256:" + "1" * 64)
    result = run_snakemake(work, "--cores", "1", "resources/datasets/cifar10", configfile=bad)
    assert result.returncode != 0
    log = (work / "logs" / "download" / "cifar10.log").read_text()
    assert "download: cifar10: sha256 checksum mismatch" in log
    assert leftovers(work / "resources" / "datasets") == []

    good = _download_config(tmp_path, server.url(archive.name), digest(archive, "sha256"))
    result = run_snakemake(work, "--cores", "1", "resources/datasets/cifar10", configfile=good)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (work / "resources/datasets/cifar10/cifar-10-batches-py/data_batch_5").is_file()
    assert leftovers(work / "resources" / "datasets") == ["cifar10"]

    # The golden runs of a cifar10 workload wait for it and get it as --data-dir.
    result = run_snakemake(work, "-n", "-p", configfile=good)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--data-dir resources/datasets/cifar10" in result.stdout + result.stderr
