"""TensorFlow process settings: a quiet start, and the numerics every run shares.

TensorFlow's native library logs notices while it is imported (oneDNN is on, CPU features,
absl's note that logging is not initialised) straight to file descriptor 2, whatever
TF_CPP_MIN_LOG_LEVEL says. Unless asked to be verbose (`verbose=True`, or FI_CORE_VERBOSE=1),
the import runs with descriptor 2 sent to a temporary file, and only its error records (and
anything that is not a notice) are passed on to stderr afterwards. oneDNN stays on.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

VERBOSE_ENV = "FI_CORE_VERBOSE"
_STAMP = r"(?:(?P<level>[IWEF])\d{4} |\d{4}-\d\d-\d\d [\d:.]+: (?P<old>[IWEF]) )"
_RECORD = re.compile(_STAMP)  # a log record: absl's "I0000 ..." or TF's older "2024-.. : I ..."
_ABSL_NOTE = ("WARNING: All log messages before absl::InitializeLog() is called are written "
              "to STDERR")

_done = False


def verbose_requested(flag: bool = False) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "").strip() not in ("", "0")


def errors_only(text: str) -> str:
    """What a user must still see of TensorFlow's start-up output: every record that is not an
    info or warning notice (a notice's continuation lines go with it)."""
    kept, in_notice = [], False
    for line in text.splitlines():
        record = _RECORD.match(line)
        if record:
            in_notice = (record["level"] or record["old"]) in "IW"
        elif line == _ABSL_NOTE:
            in_notice = True
            continue
        if not in_notice:
            kept.append(line)
    return "".join(f"{line}\n" for line in kept)


def _quiet_import() -> None:
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            left = errors_only(captured.read().decode(errors="replace"))
            if left:
                sys.stderr.write(left)
                sys.stderr.flush()


def start(verbose: bool = False) -> None:
    """Import TensorFlow quietly (unless verbose), then `configure` it. Call before anything
    imports TensorFlow (later calls only configure)."""
    loud = verbose_requested(verbose)
    if not loud:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # run-time notices; errors stay
        if "tensorflow" not in sys.modules:
            _quiet_import()
            import tensorflow as tf

            tf.get_logger().setLevel(logging.ERROR)
    configure()


def configure() -> None:
    """The numerics every run shares, set once before any step is traced (`Trainer` calls it):

    - deterministic ops: the same CSV against the same golden run gives the same trace;
    - no constant folding in the graph optimiser (grappler). Measured: with it, the traced
      injection step rounds a few gradient elements differently from the same step run eagerly
      (2 of the default campaign's first 10 CSVs then gave traces differing from the 5th decimal
      on); without it the two agree bit for bit, and the fault-free step takes as long (39.2 ms
      either way on the small workload)."""
    global _done
    if _done:
        return
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    tf.config.optimizer.set_experimental_options({"constant_folding": False})
    _done = True
