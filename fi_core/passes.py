"""The names of the passes a fault can hit: the forward operation and the two gradients of the
backward pass. A module of its own so that both the networks (which order their backward sites
by pass) and the architecture (which builds the sites) can use them without importing each
other."""

from __future__ import annotations

FORWARD, GRAD_IN, GRAD_WT = "fwrd", "grad_in", "grad_wt"
BACKWARD_OPS = (GRAD_IN, GRAD_WT)
