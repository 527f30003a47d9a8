"""TensorFlow process settings: quiet logs and deterministic kernels, set once before use."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

_done = False


def configure() -> None:
    """Deterministic ops (the same CSV against the same golden run gives the same trace)."""
    global _done
    if not _done:
        tf.config.experimental.enable_op_determinism()
        _done = True
