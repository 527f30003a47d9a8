"""The names of the passes a fault can hit (declared in `fi_formats.names`, re-exported here for
the networks and the architecture, which order and build their sites by pass)."""

from __future__ import annotations

from fi_formats.names import BACKWARD_OPS, FORWARD, GRAD_IN, GRAD_WT

__all__ = ["BACKWARD_OPS", "FORWARD", "GRAD_IN", "GRAD_WT"]
