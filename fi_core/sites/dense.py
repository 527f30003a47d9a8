"""The `dense` site kind: `[N,Cin] x [Cin,Cout]` with a kernel variable (the classifier).

The rank-2 analogue of conv: forward `[N,Cin] x [Cin,Cout] -> [N,Cout]`; grad_in
`[N,Cout] x [Cout,Cin] -> [N,Cin]`; grad_wt `[Cin,N] x [N,Cout] -> [Cin,Cout]`.
"""

from __future__ import annotations

from typing import Any

from fi_core.ops import Op, register_op
from fi_core.sites import Shape3, register_kind
from fi_core.sites.kernel import KernelSite
from fi_core.sites.kernel_kind import KernelKind
from fi_core.spec.passes import FORWARD, GRAD_IN, GRAD_WT


class Dense(KernelKind):
    name = "dense"

    def operand_shapes(self, site: KernelSite, pass_: str, n: int) -> Shape3:
        cin, cout = site.cin, site.cout
        return {
            FORWARD: ((n, cin), (cin, cout), (n, cout)),
            GRAD_IN: ((n, cout), (cout, cin), (n, cin)),
            GRAD_WT: ((cin, n), (n, cout), (cin, cout)),
        }[pass_]

    def forward(self, site: KernelSite, x: Any, w: Any) -> Any:
        import tensorflow as tf

        return tf.matmul(x, w)

    def gradient(self, site: KernelSite, pass_: str, x: Any, w: Any, dy: Any) -> Any:
        import tensorflow as tf

        if pass_ == GRAD_IN:
            return tf.matmul(dy, w, transpose_b=True)
        return tf.matmul(x, dy, transpose_a=True)

    def artifact_operands(self, site: KernelSite, pass_: str, x: Any, w: Any,
                          dy: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        if pass_ == FORWARD:
            return x, w
        if pass_ == GRAD_IN:
            return dy, tf.transpose(w)
        return tf.transpose(x), dy

    def apply(self, site: KernelSite, pass_: str, a: Any, b: Any) -> Any:
        import tensorflow as tf

        return tf.matmul(a, b)


DENSE = register_kind(Dense())


# ---------------------------------------------------------------------- the builder op
def _dense_shape(b: Any, name: str, x: Any, units: int, *, bias: bool = True,
                 listed: bool = False) -> Any:
    if len(x.dims) != 1:
        raise ValueError(f"{name} needs an [N, C] input")
    b.record("sites", KernelSite(name, DENSE.name, 1, 1, x.channels, units, 1, bias=bias,
                                 in_artifact_list=listed))
    return type(x).vector(units)


def _dense_compute(b: Any, name: str, x: Any, *args: Any, **kwargs: Any) -> Any:
    return b.layer("sites", name)(x, b.ctx)


def _dense_keras(b: Any, name: str, x: Any, units: int, *, bias: bool = True,
                 listed: bool = False) -> Any:
    import keras

    return keras.layers.Dense(units, use_bias=bias, kernel_initializer=b.init, name=name)(x)


DENSE_OP = register_op(Op("dense", _dense_shape, _dense_compute, _dense_keras))
"""`b.dense(name, x, units, *, bias=True, listed=False)`: a dense site on `[N, C]` (the
classifier)."""
