"""A Ctrl-C that arrives while collect starts its worker processes is not lost: the command
stops with its one line and exit 130 (it used to ignore SIGINT in that window and run to its
end). The signal is sent from inside the window, so the test does not depend on timing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from analysis import synthetic as syn

ROOT = Path(__file__).resolve().parents[2]
# collect's main, with the pool's first submission (when the workers are started) preceded by
# a SIGINT to this process: the moment a terminal's Ctrl-C could land there.
CHILD = """
import os, signal, sys
from concurrent.futures import ProcessPoolExecutor
original = ProcessPoolExecutor.submit
def submit(self, *args, **kwargs):
    if not getattr(self, "_interrupted_once", False):
        self._interrupted_once = True
        os.kill(os.getpid(), signal.SIGINT)
    return original(self, *args, **kwargs)
ProcessPoolExecutor.submit = submit
from analysis.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_ctrl_c_while_the_workers_start_stops_collect(tmp_path: Path) -> None:
    golden = syn.golden_record("golden")
    syn.write_json(tmp_path / "golden.json", golden)
    traces = tmp_path / "traces"
    traces.mkdir()
    text = syn.json_text(syn.injection_record("inj", golden, 3, 2))
    for i in range(300):  # three chunks of 128: the pool is used
        (traces / f"inj_{i:05d}.json").write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, "collect", str(traces), "--golden",
         str(tmp_path / "golden.json"), "--out", str(out / "r.parquet"), "--jobs", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 130, result.stdout + result.stderr
    assert result.stderr == "fi-analysis collect: interrupted (SIGINT): no output written\n"
    assert list(out.iterdir()) == []
