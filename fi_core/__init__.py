"""fi_core: replayable fault injection into TensorFlow training runs.

The packages downstream of this one (`analysis`, the Snakemake workflow) only read what it writes:
injection CSVs, checkpoints and traces. Importing `fi_core` does not import TensorFlow; the modules
that need it (`fi_core.engine.model`, `fi_core.engine.train`, ...) import it themselves.
"""

__version__ = "0.1.0"
