"""The names the traces and the injection CSVs use for passes, stages, operands and layers.

The engine builds its sites and writes its records with them; the analysis reads a layer name
back into its stage. Declared here once, so the writer and the reader cannot drift apart.
"""

from __future__ import annotations

import re

FORWARD, GRAD_IN, GRAD_WT = "fwrd", "grad_in", "grad_wt"
"""The passes of conv and dense sites: the forward operation and the two gradients of the
backward pass (`L`, `L_grad_in`, `L_grad_wt` in a layer name)."""
BACKWARD_OPS = (GRAD_IN, GRAD_WT)
BACKWARD_SUFFIXES = tuple(f"_{op}" for op in BACKWARD_OPS)

BACKWARD_PASS = re.compile(r"grad_[a-z]{1,16}")
"""Every backward pass of every site kind is named so (`grad_in`, `grad_wt`, `grad_a`, ...):
the gradient of one operand. Site kinds are checked against it when they are registered."""
BACKWARD_LAYER = re.compile(r"(?s)(?P<site>.+)_(?P<pass_>grad_[a-z]{1,16})")
"""A backward layer name: `<site>_<backward pass>`. No site name has this form (checked when a
network declares its sites), so the form alone tells a backward layer from a forward one."""

OPERANDS = ("input", "weight", "output")
"""The operands of a site, in the order the graph indexes them."""

FORWARD_STAGE, BACKWARD_STAGE = "fwrd_inject", "bkwd_inject"
STAGES = {FORWARD_STAGE: FORWARD, BACKWARD_STAGE: "bkwd"}
"""A CSV's `stage` -> the pass family it names."""

FILE_PREFIX = re.compile(r"[A-Za-z0-9_-]{0,64}")
"""`fi-core generate --prefix`: CSV names are `<prefix><index>.csv` inside `--out`, so no `/`,
no dots, nothing to escape (empty is allowed: the files are then `00000.csv`, ...)."""
ID_PREFIX = re.compile(r"[A-Za-z_](?:[A-Za-z0-9_-]{0,62}[A-Za-z_-])?")
"""A campaign's `prefix` in the pipeline configuration: its run ids are `<prefix><digits>`,
read back by the pipeline, so it must not end in a digit, and it must not look like an option.
Every id prefix is also a file prefix (the pipeline passes it on as `--prefix`)."""


def split_layer_name(layer: str) -> tuple[str, str]:
    """`L_grad_in` -> (L, grad_in); `L_grad_a` -> (L, grad_a); `L` -> (L, fwrd)."""
    match = BACKWARD_LAYER.fullmatch(layer)
    return (match["site"], match["pass_"]) if match else (layer, FORWARD)


def is_backward_layer(layer: str) -> bool:
    return BACKWARD_LAYER.fullmatch(layer) is not None


def stage_from_layer(layer: str | None) -> str | None:
    """The stage a layer name implies: `L_grad_<x>` is backward (None: no layer)."""
    if layer is None:
        return None
    return BACKWARD_STAGE if is_backward_layer(layer) else FORWARD_STAGE
