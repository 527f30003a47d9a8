"""The Python entry points for notebooks: load a campaign, its rates, its status, its figures.

    import analysis
    table = analysis.load("results/default")            # one row per injection run
    analysis.rates(table, by=["stage"])                  # rates with confidence intervals
    analysis.plot_outcomes(table)                        # a matplotlib Figure
    print(analysis.status("results/default").rates)      # a campaign that is still running

Everything here is what the command line does, returned as pandas DataFrames and matplotlib
figures instead of files. Bad input raises ``analysis.errors.InputError`` (a ValueError) with
the same one-line message the command line prints.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

from analysis.campaign_status import Status, campaign_status
from analysis.errors import InputError
from analysis.outcomes import Thresholds, outcomes

__all__ = [  # and OUTCOME_COLORS (outcome -> colour), loaded with matplotlib when asked for
    "OUTCOMES",  # noqa: F822 (module __getattr__: the rule table as it is now)
    "load",
    "plot_layer_heatmap",
    "plot_magnitude",
    "plot_outcomes",
    "plot_rates_by_fmodel",
    "rates",
    "status",
]


def load(
    path: str | os.PathLike[str],
    golden: Sequence[str] | None = None,
    *,
    thresholds: Thresholds | None = None,
    jobs: int = 1,
) -> Any:  # pandas.DataFrame
    """The results table of a campaign: one row per injection run (columns: docs/analysis.md).

    ``path`` is a campaign's results folder (``results/<campaign>``) or a results table
    (``results.parquet``). A folder with a ``results.parquet`` gives that table; a folder
    without one (a campaign still running), or given ``golden`` or ``thresholds``, gives its
    traces as they are now, classified against ``golden`` (default: the golden runs its traces
    name, as ``status`` finds them) with ``thresholds``.
    """
    from analysis.table import read_results

    path = os.fspath(path)
    if os.path.isfile(path):
        if golden is not None or thresholds is not None:
            raise InputError(
                path, "golden", "a results table is classified already: give the results folder"
            )
        return read_results(path)
    if not os.path.isdir(path):
        raise InputError(path, None, "neither a results folder nor a results table")
    table = os.path.join(path, "results.parquet")
    if os.path.isfile(table) and golden is None and thresholds is None:
        return read_results(table)
    snapshot = campaign_status(path, golden, by=(), thresholds=thresholds, jobs=jobs)
    if snapshot.table is None:
        raise InputError(path, None, "; ".join(snapshot.notes) or "no injection traces yet")
    return snapshot.table


def rates(
    table: Any,
    by: Sequence[str] | str = (),
    method: str = "wilson",
    confidence: float = 0.95,
) -> Any:  # pandas.DataFrame
    """Outcome rates per group of ``by`` (column names; ``epoch_bucket`` is derived): one
    row per group and outcome with k, n, rate, ci_low, ci_high (``method`` interval at
    ``confidence``) and n_incomplete. Groups whose runs are all incomplete are left out."""
    from analysis.groups import grouped_rates

    by = [by] if isinstance(by, str) else list(by)
    return grouped_rates(table, by, method, confidence, skip_empty=True, log=io.StringIO())


def status(
    results_dir: str | os.PathLike[str], golden: Sequence[str] | None = None, **options: Any
) -> Status:
    """Where a (running) campaign stands: ``.done``, ``.failed``, ``.planned``,
    ``.remaining``, ``.spent_s``, ``.compute_left_s``, ``.wall_left_s``, ``.rates``
    (provisional, long form), ``.table``; ``print(analysis.status(...))`` shows it as the
    ``fi-analysis status`` command does. Options: those of ``campaign_status``."""
    return campaign_status(os.fspath(results_dir), golden, **options)


def _drawn(draw: Any, *args: Any) -> Any:
    """Draw in the house style; the figure is returned, not left open in pyplot (a notebook
    would show it twice: once as pyplot's, once as the cell's value)."""
    from analysis.figstyle import plt, style

    with style():
        fig = draw(*args)
    plt.close(fig)
    return fig


def plot_outcomes(table: Any, confidence: float = 0.95) -> Any:  # matplotlib Figure
    """Outcome rates per workload and stage, with intervals (`outcomes_by_workload_stage`)."""
    from analysis.figures import fig_outcomes_by_workload_stage

    return _drawn(fig_outcomes_by_workload_stage, table, confidence)


def plot_rates_by_fmodel(table: Any, confidence: float = 0.95) -> Any:
    """Unexpected-outcome rates per fault model (figure `rates_by_fmodel`)."""
    from analysis.figures import fig_rates_by_fmodel

    return _drawn(fig_rates_by_fmodel, table, confidence)


def plot_layer_heatmap(table: Any) -> Any:
    """Unexpected-outcome rates per layer (figure `layer_heatmap`)."""
    from analysis.figures import fig_layer_heatmap

    return _drawn(fig_layer_heatmap, table)


def plot_magnitude(table: Any) -> Any:
    """Outcome shares against the magnitude of the injected value (`magnitude_vs_outcome`)."""
    from analysis.figures import fig_magnitude_vs_outcome

    return _drawn(fig_magnitude_vs_outcome, table)


def __getattr__(name: str) -> Any:
    if name == "OUTCOMES":  # the rule table as it is now (a plugin's outcome included)
        return outcomes()
    if name == "OUTCOME_COLORS":  # needs matplotlib: imported when asked for
        from analysis.figstyle import OUTCOME_COLORS

        return OUTCOME_COLORS
    raise AttributeError(name)
