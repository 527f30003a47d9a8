"""An outcome rule as a plugin, with its threshold and the feature it reads: a finite run
whose training loss rose, at some step after the fault, to --loss-spike-factor times the golden
run's loss at the same step (read from the golden run's per-step curve)."""

from __future__ import annotations

import numpy as np

from analysis.rules import Feature, Rule, Threshold, register_rule


def peak_loss_ratio(trace, golden):
    """Largest step loss / the golden run's at the same step, from the injection on."""
    if golden is None or golden.curves is None or trace.curves is None or not trace.injection:
        return None
    per_epoch, ours, theirs = golden.steps_per_epoch, trace.curves, golden.curves
    their_steps = theirs.step_epoch.astype(np.int64) * per_epoch + theirs.step_step
    our_steps = ours.step_epoch.astype(np.int64) * per_epoch + ours.step_step
    start = trace.injection.epoch * per_epoch + trace.injection.step
    keep = (our_steps >= start) & np.isfinite(ours.step_loss)
    ratio = ours.step_loss[keep] / theirs.step_loss[np.searchsorted(their_steps,
                                                                    our_steps[keep])]
    return float(ratio.max()) if ratio.size else None


FACTOR = Threshold("loss_spike_factor", float, 1.5,
                   "LossSpike: a step loss >= this x the golden run's (default 1.5)",
                   low=1.0, high=1e6, meaning="LossSpike: step loss >= X x the golden's")
PEAK = Feature("peak_loss_ratio", dtype="float64", compute=peak_loss_ratio,
               description="largest step loss / golden step loss after the injection")
register_rule(Rule("LossSpike", 4.5, "a finite run whose step loss rose to "
                   "--loss-spike-factor x the golden run's",
                   lambda f, t: ~f.nonfinite & (f.peak_loss_ratio >= t.loss_spike_factor),
                   precedence=55, features=(PEAK,), thresholds=(FACTOR,)))
