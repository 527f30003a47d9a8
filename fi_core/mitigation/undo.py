"""The paper's other way back: undoing Adam's last step algebraically (the artifact's
`technique/replay`, `MyAdam.reset`), kept to be measured against snapshots
(`benchmarks/bench_mitigation.py`, docs/mitigation.md), not used by any preset.

Given the gradient g the last step applied, Adam's step is inverted in place:
var += lr_t * m / (sqrt(v) + eps), m = (m - (1 - b1) g) / b1, v = (v - (1 - b2) g^2) / b2, and
the iteration counter goes back by one. It costs nothing until it is used (the step's gradients
are kept anyway), but in floating point it is not exact, and for a fault's gradient it cannot
be: after g = 1e17 an element's m is 1e16, whose rounding unit (about 1e9) swallows the old m
(about 1e-4), so the undo gives 0 instead of it (and v likewise); after g = 1e20, g^2
overflows, v is inf, and the undo leaves inf - inf = NaN in v, which the next step spreads.
Batch-norm moving statistics are not undone at all. The measured errors are in
docs/mitigation.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from fi_core.engine.optim import Adam


def adam_undo(optimizer: Adam, grads: Sequence[tf.Tensor], variables: Sequence[tf.Variable]
              ) -> None:
    """Undo the last `optimizer.apply(grads, variables)` (see the module docstring)."""
    optimizer.iterations.assign_sub(1)
    lr = optimizer.schedule(optimizer.iterations)
    t = tf.cast(optimizer.iterations + 1, tf.float32)
    beta_1, beta_2 = optimizer.beta_1, optimizer.beta_2
    lr_t = lr * tf.sqrt(1.0 - tf.pow(beta_2, t)) / (1.0 - tf.pow(beta_1, t))
    for grad, var, m, v in zip(grads, variables, optimizer.m, optimizer.v, strict=True):
        var.assign_add(lr_t * m / (tf.sqrt(v) + optimizer.epsilon))
        m.assign((m - (1.0 - beta_1) * grad) / beta_1)
        v.assign((v - (1.0 - beta_2) * tf.square(grad)) / beta_2)
