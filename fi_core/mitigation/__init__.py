"""Mitigation inside training: detectors and recoveries, run by the training loop through one
hook (`Guard`), with what they need measured inside the compiled step (`Instruments`).

- `detectors.py`: the detectors, one registered function each;
- `probes.py`: the in-graph scalars they read;
- `presets.py`: named combinations (`none`, `paper`, `paper_skip`, `guard`) and recoveries;
- `snapshots.py`: in-memory snapshots of the training state for rollbacks;
- `guard.py`: the instruments of a trainer and the hook of one run;
- `priming.py`: the detectors' running state from an observe run;
- `undo.py`: the paper's algebraic undo of Adam (measured against snapshots, not used).

See docs/mitigation.md.
"""

from fi_core.mitigation.presets import NONE, PRESETS, Preset

__all__ = ["NONE", "PRESETS", "Preset"]
