"""The analysis's verdict on a pipeline configuration, before any job runs
(``fi-analysis check-config``).

The Snakemake workflow sends its ``analysis`` section and the campaigns whose size the analysis
decides (a margin of error, or a sequential target) as one JSON request, once per parse. The
checks are the analysis's own (its columns, methods, thresholds and sample-size formula), so a
dry run refuses what ``rates``, ``summary`` or ``collect`` would refuse after every injection
ran. A problem is ``InputError("config", <json path>, <reason>)``: one line naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analysis import strict
from analysis.errors import InputError

FORMAT = "fi-analysis-check/1"
MIN_MARGIN = 0.001
"""The smallest margin of error a campaign may ask for (about a million injections at 95 %)."""

_SOURCE = "config"


def _bad(path: str, reason: str) -> InputError:
    return InputError(_SOURCE, path, reason)


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(path, "expected a mapping of names")
    return value


def _number(value: Any, path: str) -> float:
    return strict.number(value, _SOURCE, path)


def _unit(value: Any, path: str) -> float:
    """A number strictly between 0 and 1 (a margin)."""
    return strict.unit_open(value, _SOURCE, path)


def _confidence(value: Any, path: str) -> float:
    """A confidence level (strictly above 0, at most strict.MAX_CONFIDENCE)."""
    return strict.confidence(value, _SOURCE, path)


def _integer(value: Any, path: str, low: int, high: int) -> int:
    return strict.integer(value, _SOURCE, path, low=low, high=high)


def _columns(value: Any, path: str) -> list[str]:
    """Grouping columns: names of the results table (or derived from it)."""
    from analysis.columns import RESULT_NAMES
    from analysis.groups import DERIVED

    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise _bad(path, "expected a non-empty list of columns")
    for i, column in enumerate(value):
        if not isinstance(column, str) or (column not in RESULT_NAMES and column not in DERIVED):
            raise _bad(f"{path}[{i}]", f"no column {column!r} in the results table "
                                       "(docs/analysis.md lists them)")
    return list(value)


def check_analysis(section: Any) -> None:
    """The `analysis` section: method, confidence, rates and summary columns, plugins and
    thresholds."""
    from analysis.stats import METHODS

    section = _mapping(section, "analysis")
    method = section.get("method", "wilson")
    if method not in METHODS:
        raise _bad("analysis.method", f"{method!r} is not one of {', '.join(METHODS)}")
    _confidence(section.get("confidence", 0.95), "analysis.confidence")
    for name, columns in _mapping(section.get("rates") or {}, "analysis.rates").items():
        _columns(columns, f"analysis.rates.{name}")
    _columns(section.get("summary_by", ["workload", "stage"]), "analysis.summary_by")
    _plugins(section.get("plugins") or [])
    _thresholds(_mapping(section.get("thresholds") or {}, "analysis.thresholds"))


def _plugins(names: Any) -> None:
    """`analysis.plugins`: imported here as every fi-analysis job will (their thresholds are
    then known)."""
    from analysis import plugins

    if not isinstance(names, Sequence) or isinstance(names, str):
        raise _bad("analysis.plugins", "expected a list of module names")
    for i, name in enumerate(names):
        plugins.load([name], _SOURCE, f"analysis.plugins[{i}]")


def _thresholds(values: Mapping[str, Any]) -> None:
    """Each key a registered threshold (analysis.rules), each value what its option takes."""
    from analysis.outcomes import Thresholds
    from analysis.rules import registry

    table = {t.name: t for t in registry.thresholds()}
    given: dict[str, Any] = {}
    for key, value in values.items():
        path = f"analysis.thresholds.{key}"
        if key not in table:
            raise _bad(path, "not a threshold")
        if value is not None:  # the type here (integers: the range too), the range below
            given[key] = table[key].check(value, _SOURCE, path, ranged=False)
    try:
        Thresholds(**given)
    except InputError as error:
        key = next(name for name, t in table.items() if t.option == error.where)
        raise _bad(f"analysis.thresholds.{key}", error.reason) from None


def campaign_size(name: str, spec: Any) -> int:
    """Injections for a campaign's margin of error (analysis.stats.sample_size, p = 0.5)."""
    from analysis.stats import sample_size

    path = f"campaigns.{name}"
    spec = _mapping(spec, path)
    margin = _unit(spec.get("margin"), f"{path}.margin")
    if margin < MIN_MARGIN:
        raise _bad(f"{path}.margin", f"{margin!r} is below the smallest margin, {MIN_MARGIN}")
    confidence = _confidence(spec.get("confidence", 0.95), f"{path}.confidence")
    population = spec.get("population")
    if population is not None:
        population = _integer(population, f"{path}.population", 1, 10**15)
    return sample_size(margin, confidence, population, p=0.5)


def sequential_schedule(name: str, spec: Any) -> dict[str, Any]:
    """A sequential campaign's looks (injections per stratum) and their confidence level."""
    from analysis.sequential import MAX_LOOKS, MIN_HALF_WIDTH, schedule

    path = f"campaigns.{name}.target"
    spec = _mapping(spec, path)
    half_width = _number(spec.get("half_width"), f"{path}.half_width")
    if not MIN_HALF_WIDTH <= half_width < 0.5:
        raise _bad(f"{path}.half_width", f"{half_width!r} is outside [{MIN_HALF_WIDTH}, 0.5)")
    confidence = _confidence(spec.get("confidence", 0.95), f"{path}.confidence")
    looks = _integer(spec.get("looks", 4), f"{path}.looks", 1, MAX_LOOKS)
    _columns(spec.get("by", ["stage"]), f"{path}.by")
    try:
        plan = schedule(half_width, confidence, looks)
    except InputError as error:  # named by its option: name the key instead
        key = {"--half-width": "half_width", "--confidence": "confidence", "--looks": "looks"}
        raise _bad(f"{path}.{key.get(error.where, 'half_width')}", error.reason) from None
    return {"sizes": plan.sizes, "level": plan.level}


def check_request(request: Any) -> dict[str, Any]:
    """The whole verdict: raises InputError naming the first bad key, else returns the sizes
    of margin campaigns and the schedules of sequential ones."""
    request = _mapping(request, "request")
    check_analysis(request.get("analysis") or {})
    sizes: dict[str, int] = {}
    schedules: dict[str, dict[str, Any]] = {}
    for name, spec in _mapping(request.get("campaigns") or {}, "campaigns").items():
        spec = _mapping(spec, f"campaigns.{name}")
        if "margin" in spec:
            sizes[name] = campaign_size(name, spec)
        if "target" in spec:
            schedules[name] = sequential_schedule(name, spec["target"])
    return {"format": FORMAT, "sizes": sizes, "schedules": schedules}
