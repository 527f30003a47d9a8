"""Progress for people, drawn by tqdm: live bars on a terminal, plain lines in a job's log.

On a terminal a run shows a live bar (epoch, step, loss, accuracy, steps per second, time left)
and a batch of CSVs a bar over the CSVs above it; the per-epoch and per-CSV lines are printed
above the bars. Without a terminal (a job's log) there are no bars, only one plain line per epoch
and one per finished CSV.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Lines:
    """Plain lines, written above any live bar of the same stream."""

    def __init__(self, stream: TextIO, live: bool) -> None:
        self.stream, self.live = stream, live

    def write(self, text: str) -> None:
        if self.live:
            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


class Progress:
    """The progress of one training run of `total_steps` steps."""

    def __init__(self, label: str, total_steps: int, stream: TextIO | None = None,
                 live: bool | None = None, position: int = 0) -> None:
        self.stream = stream or sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        self.lines = _Lines(self.stream, self.live)
        self.label, self.total, self.done = label, max(1, total_steps), 0
        self.started = time.monotonic()
        self.bar = (tqdm(total=self.total, desc=label, unit="step", file=self.stream,
                         position=position, leave=position == 0, dynamic_ncols=True,
                         mininterval=0.2) if self.live else None)

    def _left(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = elapsed / self.done if self.done else 0.0
        return _clock(rate * (self.total - self.done))

    def step(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(f"epoch {epoch} step {step} loss {loss:.4f} "
                                     f"acc {accuracy:.4f}", refresh=False)
            self.bar.update(1)

    def epoch(self, epoch: int, train_loss: float, train_accuracy: float, test_accuracy: float
              ) -> None:
        self.lines.write(f"{self.label} epoch {epoch}: train loss {train_loss:.4f} "
                         f"train acc {train_accuracy:.4f} test acc {test_accuracy:.4f} "
                         f"elapsed {_clock(time.monotonic() - self.started)} "
                         f"left {self._left()}")

    def message(self, text: str) -> None:
        self.lines.write(f"{self.label} {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class BatchProgress:
    """The progress of a batch of injection CSVs: a bar over the CSVs on a terminal (the runs'
    bars below it), one line per finished CSV."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = _is_terminal(self.stream) if live is None else live
        self.lines = _Lines(self.stream, self.live)
        self.total, self.done = total, 0
        self.started = time.monotonic()
        self.bar = (tqdm(total=total, desc="CSVs", unit="csv", file=self.stream, position=0,
                         dynamic_ncols=True) if self.live else None)

    def run(self, label: str, total_steps: int) -> Progress:
        """The progress of the batch's next run (its bar under the batch's bar)."""
        return Progress(label, total_steps, self.stream, self.live,
                        position=1 if self.bar is not None else 0)

    def finished(self, label: str, outcome: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        left = elapsed / self.done * (self.total - self.done)
        self.lines.write(f"{label} done ({outcome}): {self.done}/{self.total} CSVs, "
                         f"elapsed {_clock(elapsed)} left {_clock(left)}")
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
