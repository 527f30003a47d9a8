"""The registry of networks and their workload presets.

A workload is one file in this package: its network, declared once against `fi_core.spec.builder`,
and its presets, handed to `register`. Every module here is imported on first use, so adding a
file is the whole change; nothing else names a network. A module outside the package (a user's
own network) registers itself the same way when it is imported as a plugin (`fi_core.spec.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fi_core.spec.discovery import import_modules

if TYPE_CHECKING:
    from fi_core.spec.builder import Builder, Tensor
    from fi_core.spec.workloads import WorkloadConfig

Order = Callable[[Sequence[str]], list[str]]
"""Site names in creation order -> a layer list in the artifact's order."""
Passes = Callable[[str], Sequence[str]]
"""A site's name -> the names of its kind's backward passes (`grad_in`, `grad_wt` for conv and
dense; `fi_core.sites`)."""
BackwardOrder = Callable[[Sequence[str], Passes], list[str]]
"""Site names in creation order and their passes -> the backward layer list (`L_<pass>`)."""


def in_creation_order(names: Sequence[str]) -> list[str]:
    return list(names)


def in_reverse_order(names: Sequence[str]) -> list[str]:
    return list(reversed(names))


def interleaved(order: Order) -> BackwardOrder:
    """Every backward name of a layer together (`L_grad_in, L_grad_wt`), layers in `order`."""
    return lambda names, passes: [f"{n}_{op}" for n in order(names) for op in passes(n)]


def grouped(order: Order) -> BackwardOrder:
    """Every layer's first backward pass (`L_grad_in`, layers in `order`), then every second
    one in the same order, and so on."""

    def backward(names: Sequence[str], passes: Passes) -> list[str]:
        layers = order(names)
        depth = max((len(passes(n)) for n in layers), default=0)
        return [f"{n}_{passes(n)[i]}" for i in range(depth) for n in layers
                if i < len(passes(n))]

    return backward


REVERSE_INTERLEAVED = interleaved(in_reverse_order)
"""The default backward list: layers from the last to the first, grad_in then grad_wt."""


@dataclass(frozen=True)
class Network:
    """A network: its one declaration, the order of the artifact's layer lists, its task."""

    name: str
    build: Callable[[Builder, WorkloadConfig, Tensor], Tensor]
    forward_order: Order = in_creation_order
    backward_order: BackwardOrder = REVERSE_INTERLEAVED
    task: str = "image_classification"
    """What a step feeds the network and reports (`fi_core.tasks`)."""


_NETWORKS: dict[str, Network] = {}
_PRESETS: dict[str, WorkloadConfig] = {}


def register(network: Network, presets: Mapping[str, WorkloadConfig]) -> None:
    """Add a network and its named workload presets (each preset's `network` must name it)."""
    for name, preset in presets.items():
        if preset.network != network.name:
            raise ValueError(f"preset {name!r} names network {preset.network!r}, "
                             f"registered with {network.name!r}")
        if name in _PRESETS and _PRESETS[name] != preset:
            raise ValueError(f"preset {name!r} is registered twice")
    _NETWORKS[network.name] = network
    _PRESETS.update(presets)


def _discover() -> None:
    import_modules(__name__, __path__)


def networks() -> Mapping[str, Network]:
    _discover()
    return _NETWORKS


def presets() -> Mapping[str, WorkloadConfig]:
    _discover()
    return _PRESETS


def network_of(config: WorkloadConfig) -> Network:
    known = networks()
    if config.network not in known:
        raise KeyError(f"unknown network {config.network!r} (known: {', '.join(known)})")
    return known[config.network]
