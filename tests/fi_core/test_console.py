"""What a person sees: a quiet start (TensorFlow's start-up notices only when asked for) and live
bars on a terminal. (A job's log, piped, gets plain lines: test_training's divergence test.)"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

from fi_core.engine import tf_setup

NOISE = re.compile(r"^[IWEF]\d{4} |oneDNN|absl|cpu_feature_guard|rebuild TensorFlow", re.M)


def test_only_error_records_of_the_start_up_output_are_kept():
    captured = (
        f"{tf_setup._ABSL_NOTE}\n"
        "I0000 00:00:1.1 1 port.cc:153] oneDNN custom operations are on. You may see ...\n"
        "I0000 00:00:1.2 1 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...\n"
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild ...\n"
        "W0000 00:00:1.3 1 some.cc:1] a warning\n"
        "2024-01-11 05:40:05.061907: I tensorflow/core/platform/cpu_feature_guard.cc:182] ...\n"
        "E0000 00:00:1.4 1 loader.cc:9] could not load a library\n"
        "  because of this\n"
        "Traceback (most recent call last):\n"
        "2024-01-11 05:40:05.061908: E tensorflow/core/x.cc:1] an older-style error\n"
    )
    assert tf_setup.errors_only(captured) == (
        "E0000 00:00:1.4 1 loader.cc:9] could not load a library\n"
        "  because of this\n"
        "Traceback (most recent call last):\n"
        "2024-01-11 05:40:05.061908: E tensorflow/core/x.cc:1] an older-style error\n")


# Run in a child: a finder placed first on sys.meta_path notes which file descriptor 2 is the
# moment `tensorflow` is looked up, then lets the real import go on. What TensorFlow prints
# differs between CPUs; where its output goes, and the log level set, is the project's choice.
_WHERE_STDERR_GOES = """
import os, sys
from fi_core.engine import tf_setup
seen = []
class Spy:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" and not seen:
            seen.append(os.fstat(2).st_ino)
        return None
before = os.fstat(2).st_ino
sys.meta_path.insert(0, Spy())
tf_setup.start()
print(seen == [before], os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
"""


def _stderr_during_import(verbose_value: str | None) -> str:
    env = {key: value for key, value in os.environ.items()
           if key not in (tf_setup.VERBOSE_ENV, "TF_CPP_MIN_LOG_LEVEL")}
    if verbose_value is not None:
        env[tf_setup.VERBOSE_ENV] = verbose_value
    result = subprocess.run([sys.executable, "-c", _WHERE_STDERR_GOES], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_tensorflow_notices_shown_when_asked_for():
    # Asked for: TensorFlow writes to the real stderr and its log level is left alone.
    assert _stderr_during_import("1") == "True None"


def test_tensorflow_notices_captured_unless_asked_for():
    # Not asked for (unset, or "0"): the import writes to a capture, run-time notices are off.
    assert _stderr_during_import(None) == "False 2"
    assert _stderr_during_import("0") == "False 2"


def _run_on_a_terminal(args: list[str]) -> tuple[int, str]:
    """Run a command with a 100-column pseudo-terminal as stdin, stdout and stderr."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = {key: value for key, value in os.environ.items() if key != tf_setup.VERBOSE_ENV}
    process = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower,
                               env=env, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=300), b"".join(chunks).decode(errors="replace")


def test_a_terminal_shows_a_live_bar_and_no_tensorflow_noise(tmp_path: Path):
    code, shown = _run_on_a_terminal([
        sys.executable, "-m", "fi_core", "golden", "--workload", "resnet18_small",
        "--set", "epochs=1", "--out", str(tmp_path / "seed_123")])
    assert code == 0, shown
    assert NOISE.search(shown) is None, shown
    # tqdm's bar, redrawn in place: the run, its steps, rate, time left, and the last step.
    assert "\r" in shown
    bar = (r"\[golden seed_123\]: 100%\|[^|]*\| 10/10 \[\d\d:\d\d<00:00, +[\d.]+"
           r"(step/s|s/step), epoch 0 step 9 loss \d\.\d{4} acc \d\.\d{4}\]")
    assert re.search(bar, shown), shown
    assert re.search(r"\[golden seed_123\] epoch 0: train loss \d\.\d{4} ", shown)
