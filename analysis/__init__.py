"""Analysis of fault-injection traces: parsing, outcomes, statistics, figures, report tables.

Never imports TensorFlow or ``fi_core``: traces are analysed far from the machines that made
them. Importing the package is cheap; the heavy modules (pandas, pyarrow, matplotlib) are
imported only by the commands that need them.
"""

__version__ = "0.1.0"
