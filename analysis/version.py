"""The analysis package's version, recorded in every results table it writes (a module of its
own, so that writers need not import the package's notebook API)."""

__version__ = "0.1.0"
