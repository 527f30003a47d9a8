"""`python -m fi_core` and the `fi-core` script."""

import sys

from fi_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
