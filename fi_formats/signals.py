"""Stop signals, handled once for both commands: held back around the statements that must all
happen or none, and turned into an exception while a command runs.

`signals_deferred` holds SIGINT and SIGTERM (and SIGALRM) back for a few statements (a trace
pair renamed into place, a temporary file created and named). `interrupts_raised` makes the
first stop signal raise `Interrupted` in the command (a BaseException: nothing swallows it, and
every `finally` on the way out removes its temporary outputs) and ignores later ones (the way
out must not be cut short); an interrupt Python cannot propagate (raised in a destructor or a
callback) is raised again a millisecond later. `exit_status` is the status of a command
stopped by a signal: 130 for SIGINT, 143 for SIGTERM, as a shell reports them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DEFERRED = (*STOP_SIGNALS, signal.SIGALRM)
"""What `signals_deferred` holds back: the stop signals, and the alarm by which
`interrupts_raised` raises again an interrupt that a destructor swallowed."""
SIGNAL_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
BROKEN_PIPE = 141
"""The exit status of a command whose standard output was closed by its reader."""


def install_handlers(handlers: dict[int, Any]) -> dict[int, Any]:
    """Set signal handlers with those signals blocked meanwhile, so that none arrives halfway
    (one handler swapped, the next not yet); returns the handlers that were in place."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, DEFERRED)
    try:
        return {s: signal.signal(s, handler) for s, handler in handlers.items()}
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM (and SIGALRM) held back until the block is done, then delivered as
    usual: for the few statements that must all happen or none (a trace pair, a folder
    renamed into place, a temporary file created and named)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = install_handlers({s: lambda signum, frame: caught.append(signum) for s in DEFERRED})
    try:
        yield
    finally:
        install_handlers(old)
        if caught:
            signal.raise_signal(caught[0])  # now handled by the handler that was in place


class Interrupted(BaseException):
    """SIGTERM or SIGINT while a command runs; a BaseException, so that nothing swallows it and
    every `finally` on the way out removes its temporary outputs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


received: list[int] = []
"""The stop signals received while the command runs (the first decides the exit status)."""


def _raise_interrupted(signum: int, frame: object) -> None:
    """The first stop signal stops the command; later ones are ignored (the way out removes
    temporary outputs and must not be cut short)."""
    received.append(signum)
    for s in STOP_SIGNALS:
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def _raise_received(signum: int, frame: object) -> None:
    """SIGALRM armed by `_unraisable`: the interrupt that was swallowed, raised again."""
    raise Interrupted(received[0] if received else signal.SIGINT)


def _unraisable(hook: Callable) -> Callable:
    """`sys.unraisablehook` that keeps an interrupt raised where Python cannot propagate it (a
    destructor, a callback: it would print a traceback and go on) and raises it again in the
    code that runs next, a millisecond later (a timer: anything raised in here is swallowed
    too)."""

    def handle(unraisable) -> None:
        if isinstance(unraisable.exc_value, Interrupted | KeyboardInterrupt):
            if not received:
                received.append(getattr(unraisable.exc_value, "signum", signal.SIGINT))
            signal.setitimer(signal.ITIMER_REAL, 0.001)
            return
        hook(unraisable)

    return handle


@contextlib.contextmanager
def interrupts_raised() -> Iterator[None]:
    """SIGTERM and SIGINT raise `Interrupted` while a command runs (handlers restored after:
    a command's `main` may be called in-process). SIGINT is set too, not left to Python: a
    process started with SIGINT ignored (a background job of a shell without job control)
    would otherwise not stop on it."""
    received.clear()
    try:
        old = install_handlers({signal.SIGINT: _raise_interrupted,
                                signal.SIGTERM: _raise_interrupted,
                                signal.SIGALRM: _raise_received})
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    old_hook, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = old_hook
        install_handlers(old)


def signal_of(error: BaseException) -> int:
    """The signal that stopped a command: an `Interrupted`'s, SIGINT for a KeyboardInterrupt."""
    return getattr(error, "signum", signal.SIGINT)


def exit_status(signum: int) -> int:
    """The exit status of a command stopped by `signum` (130 for SIGINT, 143 for SIGTERM)."""
    return SIGNAL_STATUS.get(signum, 128 + signum)


def interrupted_line(prog: str, signum: int, left: str) -> str:
    """The one line of an interrupted command: what stopped it and what it leaves behind."""
    return f"{prog}: interrupted ({signal.Signals(signum).name}): {left}"


def stdout_closed() -> int:
    """Standard output's reader is gone (`... | head -1`): the rest of the output goes nowhere,
    quietly; returns the exit status."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return BROKEN_PIPE
