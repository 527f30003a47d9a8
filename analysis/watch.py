"""`fi-analysis status --watch`: a running campaign as a live bar, until every planned
injection has a trace.

On a terminal, tqdm draws one bar over the planned injections (done and failed ones count),
with the Masked rate so far and its interval, the failures and the time left; elsewhere (a log,
a pipe) one plain line is written whenever something changed. Each refresh reads the results
folder again (`campaign_status`), so it is as safe as `status`: nothing is written. Ctrl-C ends
the watch; the full status is printed last either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from analysis.campaign_status import Status, duration

MIN_INTERVAL_S = 0.05
MAX_INTERVAL_S = 86400.0
"""The longest refresh interval `--watch` takes: a day (longer overflows time.sleep)."""


def summary(status: Status) -> str:
    """One short line: the Masked rate so far with its interval, failures, time left."""
    parts = []
    rates = status.rates
    if rates is not None:
        masked = rates[(rates["group"] == "all") & (rates["outcome"] == "Masked")]
        if len(masked):
            row = masked.iloc[0]
            parts.append(
                f"Masked {100 * row.rate:.0f}% ({100 * row.ci_low:.0f}-{100 * row.ci_high:.0f})"
            )
    if status.failed:
        parts.append(f"{status.failed} failed")
    if status.remaining:
        left = status.wall_left_s if status.wall_left_s is not None else status.compute_left_s
        if left is not None:
            parts.append(f"left {duration(left)}")
    return ", ".join(parts)


def _bar(stream: TextIO, total: int | None, initial: int):
    """A tqdm bar on a terminal (its rate counts the runs finished while watching); None
    elsewhere, or without tqdm (plain lines then)."""
    if not stream.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=initial, desc="injections", unit="run", file=stream,
                dynamic_ncols=True)


def watch(
    read: Callable[[], Status], interval: float, stream: TextIO, limit: int | None = None
) -> Status:
    """Refresh every `interval` seconds until nothing is left to run (or Ctrl-C, or `limit`
    refreshes); returns the last status read."""
    status = read()
    bar = _bar(stream, status.planned, status.done + status.failed)
    shown: tuple[int, int | None, str] | None = None
    refreshes = 0
    try:
        while True:
            have, line = status.done + status.failed, summary(status)
            if bar is not None:
                bar.total = status.planned
                bar.n = have
                bar.set_postfix_str(line, refresh=False)
                bar.refresh()
            elif (have, status.planned, line) != shown:
                planned = "?" if status.planned is None else status.planned
                stream.write(
                    f"{time.strftime('%H:%M:%S')} injections {have}/{planned}"
                    f"{': ' + line if line else ''}\n"
                )
                stream.flush()
            shown = (have, status.planned, line)
            refreshes += 1
            if status.remaining == 0 or (limit is not None and refreshes >= limit):
                return status
            time.sleep(max(MIN_INTERVAL_S, interval))
            status = read()
    except KeyboardInterrupt:
        return status
    finally:
        if bar is not None:
            bar.close()
