"""`python -m fi_core` and the `fi-core` script.

A stop signal that arrives while the command line module is still being imported is held
(noted, not acted on) and then delivered once `main` has installed its handlers: it ends in
the same one line and 130 / 143, not in Python's default death or traceback."""

import signal

_held: list[int] = []


def _hold(signum: int, frame: object) -> None:
    _held.append(signum)


if __name__ == "__main__":
    for _signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(_signum, _hold)

from fi_core.commands.cli import run  # noqa: E402  (after the handlers: imports take a while)

if __name__ == "__main__":
    run(held=_held)
