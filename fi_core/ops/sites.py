"""The layer group of every site kind: one `fi_core.engine.nn.SiteLayer` per site, seeded with
(workload seed, the site's index among all sites), as sites have always been."""

from __future__ import annotations

from typing import Any

from fi_core.ops import Group, register_group


def _create(spec: Any, config: Any, index: int) -> Any:
    from fi_core.engine import nn

    return nn.SiteLayer(spec, index, seed=(config.seed, index))


SITES = register_group(Group("sites", _create, always=True, order=0))
