"""Progress for people: a live line on a terminal, one line per epoch in a job's log."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """Reports epoch, step, loss, accuracy and time left for `total_steps` steps."""

    def __init__(self, label: str, total_steps: int, stream: TextIO | None = None,
                 live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.label, self.total, self.done = label, max(1, total_steps), 0
        self.started = time.monotonic()

    def _left(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = elapsed / self.done if self.done else 0.0
        return _clock(rate * (self.total - self.done))

    def step(self, epoch: int, step: int, loss: float, accuracy: float) -> None:
        self.done += 1
        if self.live:
            self.stream.write(f"\r{self.label} epoch {epoch} step {step}  loss {loss:.4f}  "
                              f"acc {accuracy:.4f}  left {self._left()} ")
            self.stream.flush()

    def epoch(self, epoch: int, train_loss: float, train_accuracy: float, test_accuracy: float
              ) -> None:
        prefix = "\r" if self.live else ""
        suffix = "\n"
        self.stream.write(f"{prefix}{self.label} epoch {epoch}: train loss {train_loss:.4f} "
                          f"train acc {train_accuracy:.4f} test acc {test_accuracy:.4f} "
                          f"elapsed {_clock(time.monotonic() - self.started)} "
                          f"left {self._left()}{suffix}")
        self.stream.flush()

    def message(self, text: str) -> None:
        self.stream.write(("\n" if self.live else "") + f"{self.label} {text}\n")
        self.stream.flush()
