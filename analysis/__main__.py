"""Entry point of ``python -m analysis`` and of the ``fi-analysis`` script."""

from __future__ import annotations

import sys

from analysis.cli import main as _cli_main


def main() -> None:
    """Console-script entry point."""
    sys.exit(_cli_main())


if __name__ == "__main__":
    main()
