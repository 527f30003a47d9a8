"""The `batched_matmul` site kind: `[..., M, K] x [..., K, N] -> [..., M, N]` with both operands
activations, as a transformer's attention scores (Q x K^T) and context (softmax x V) are.

Per example (the batch axis first, then `batch` dims such as heads):

- forward `L`: input A `[n, *batch, M, K]`, weight B `[n, *batch, K, N]`, output
  `[n, *batch, M, N]`;
- `L_grad_a` (dA = dC x B^T): input dC `[n, *batch, M, N]`, weight B^T `[n, *batch, N, K]`,
  output dA `[n, *batch, M, K]`;
- `L_grad_b` (dB = A^T x dC): input A^T `[n, *batch, K, M]`, weight dC `[n, *batch, M, N]`,
  output dB `[n, *batch, K, N]`.

Every operand and every result is one slice per replica (no variable: nothing is summed over
the replicas), so a fault changes only the target replica's rows. The builder op is
`b.batched_matmul(name, a, b, *, listed=False)`; the site holds no variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fi_core.ops import Op, register_op
from fi_core.sites import Backward, Shape3, SiteKind, register_kind
from fi_core.spec.passes import FORWARD

GRAD_A, GRAD_B = "grad_a", "grad_b"


@dataclass(frozen=True)
class MatmulSite:
    name: str
    kind: str
    batch: tuple[int, ...]
    m: int
    k: int
    n: int
    in_artifact_list: bool = False

    def operand_shape(self, pass_: str, operand: str, n: int) -> tuple[int, ...]:
        from fi_core.sites import operand_shape

        return operand_shape(self, pass_, operand, n)


def _swap_last(t: Any) -> Any:
    import tensorflow as tf

    return tf.linalg.matrix_transpose(t)


class BatchedMatmul(SiteKind):
    name = "batched_matmul"
    backward = (Backward(GRAD_A, 0, summed=False), Backward(GRAD_B, 1, summed=False))
    batched = (True, True)

    def operand_shapes(self, site: MatmulSite, pass_: str, n: int) -> Shape3:
        lead, m, k, cols = (n, *site.batch), site.m, site.k, site.n
        return {
            FORWARD: ((*lead, m, k), (*lead, k, cols), (*lead, m, cols)),
            GRAD_A: ((*lead, m, cols), (*lead, cols, k), (*lead, m, k)),
            GRAD_B: ((*lead, k, m), (*lead, m, cols), (*lead, k, cols)),
        }[pass_]

    def forward(self, site: MatmulSite, x: Any, w: Any) -> Any:
        import tensorflow as tf

        return tf.matmul(x, w)

    def gradient(self, site: MatmulSite, pass_: str, x: Any, w: Any, dy: Any) -> Any:
        import tensorflow as tf

        if pass_ == GRAD_A:
            return tf.matmul(dy, w, transpose_b=True)
        return tf.matmul(x, dy, transpose_a=True)

    def artifact_operands(self, site: MatmulSite, pass_: str, x: Any, w: Any,
                          dy: Any) -> tuple[Any, Any]:
        if pass_ == FORWARD:
            return x, w
        if pass_ == GRAD_A:
            return dy, _swap_last(w)
        return _swap_last(x), dy

    def apply(self, site: MatmulSite, pass_: str, a: Any, b: Any) -> Any:
        import tensorflow as tf

        return tf.matmul(a, b)


BATCHED_MATMUL = register_kind(BatchedMatmul())


# ---------------------------------------------------------------------- the builder op
def _shape(b: Any, name: str, x: Any, y: Any, *, listed: bool = False) -> Any:
    if len(x.dims) < 2 or x.dims[:-2] != y.dims[:-2] or x.dims[-1] != y.dims[-2]:
        raise ValueError(f"{name}: batched_matmul of {x} and {y}")
    b.record("sites", MatmulSite(name, BATCHED_MATMUL.name, tuple(x.dims[:-2]), x.dims[-2],
                                 x.dims[-1], y.dims[-1], in_artifact_list=listed))
    return type(x)((*x.dims[:-1], y.dims[-1]))


def _compute(b: Any, name: str, x: Any, y: Any, *, listed: bool = False) -> Any:
    return b.layer("sites", name)(x, y, b.ctx)


def _keras(b: Any, name: str, x: Any, y: Any, *, listed: bool = False) -> Any:
    import keras

    return keras.layers.Lambda(lambda pair: keras.ops.matmul(*pair), name=name)([x, y])


BATCHED_MATMUL_OP = register_op(Op("batched_matmul", _shape, _compute, _keras))
