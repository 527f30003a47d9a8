"""`python -m fi_core` and the `fi-core` script."""

from fi_core.cli import run

if __name__ == "__main__":
    run()
