"""Analysis of fault-injection traces: parsing, outcomes, statistics, figures, report tables.

Never imports TensorFlow or ``fi_core``: traces are analysed far from the machines that made
them. Importing the package is cheap; the heavy modules (pandas, pyarrow, matplotlib) are
imported only by the commands that need them.

For notebooks (see docs/analysis.md, "Python API", and docs/analysis_example.ipynb)::

    import analysis
    table = analysis.load("results/default")
    analysis.rates(table, by=["stage"])
    analysis.plot_outcomes(table)
    analysis.status("results/default")
"""

from typing import Any

from analysis.version import __version__

# The notebook API lives in analysis.api; its names are loaded on first use.
_API = (
    "OUTCOMES",
    "OUTCOME_COLORS",
    "load",
    "plot_layer_heatmap",
    "plot_magnitude",
    "plot_outcomes",
    "plot_rates_by_fmodel",
    "rates",
    "status",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from analysis import api

        return getattr(api, name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
