"""Writes that fail half-way (a full disk, modelled by a file-size limit: the write fails with
EFBIG as it would with ENOSPC) and kills leave no half pair and no staging folder behind; a
later run clears what a killed one left."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time

from fi_core.store import files
from tests.fi_core.hostile import one_line
from tests.fi_core.test_resume import write_csvs


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child, before exec; Python ignores SIGXFSZ, so write fails
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_generate_on_a_full_disk_exits_1_and_leaves_nothing(tmp_path):
    out = tmp_path / "csv"
    result = subprocess.run([sys.executable, "-m", "fi_core", "generate", "--n", "5", "--seed",
                             "1", "--out", str(out)], capture_output=True, text=True,
                            preexec_fn=_file_size_limit(300), timeout=120)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(
        f"fi-core generate: cannot read or write a file: OSError: [Errno 27] File too large: "
        f"'{out / 'inj_00000.csv'}'")
    assert not out.exists()


def test_inject_on_a_full_disk_leaves_no_half_pair(micro_golden, tmp_path):
    # This run's text trace is about 1 KB, its JSON record 3 KB: with a limit between the two, the
    # text is written and the JSON fails; neither may stay.
    csv = write_csvs(tmp_path / "csv")[0]
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-m", "fi_core", "inject", "--file", str(csv),
                             "--golden", str(micro_golden), "--out-dir", str(out)],
                            capture_output=True, text=True, preexec_fn=_file_size_limit(1500),
                            timeout=600)
    assert result.returncode == 1, result.stderr
    assert "cannot read or write a file: OSError: [Errno 27] File too large" in result.stderr
    assert list(out.iterdir()) == []


def test_a_killed_generate_leaves_a_staging_folder_the_next_one_clears(tmp_path):
    out = tmp_path / "csv"
    process = subprocess.Popen([sys.executable, "-m", "fi_core", "generate", "--n", "2000000",
                                "--seed", "1", "--out", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(p.name.startswith(".staged.") for p in out.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    left = [p for p in out.iterdir() if p.name.startswith(".staged.")]
    assert len(left) == 1 and any(left[0].iterdir())  # what SIGKILL leaves: nothing can run

    # A staging folder still in use by a live run is not touched.
    busy = out / ".staged.busy.partial"
    busy.mkdir()
    held = files._hold(busy)
    try:
        result = subprocess.run([sys.executable, "-m", "fi_core", "generate", "--n", "3",
                                 "--seed", "1", "--out", str(out)], capture_output=True,
                                text=True, timeout=120)
    finally:
        os.close(held)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        ".staged.busy.partial", "inj_00000.csv", "inj_00001.csv", "inj_00002.csv"]
