"""The `dense` site kind: `[N,Cin] x [Cin,Cout]` with a kernel variable (the classifier).

The rank-2 analogue of conv: forward `[N,Cin] x [Cin,Cout] -> [N,Cout]`; grad_in
`[N,Cout] x [Cout,Cin] -> [N,Cin]`; grad_wt `[Cin,N] x [N,Cout] -> [Cin,Cout]`.
"""

from __future__ import annotations

from typing import Any

from fi_core.passes import FORWARD, GRAD_IN, GRAD_WT
from fi_core.sites import Shape3, register_kind
from fi_core.sites.kernel import KernelKind, KernelSite


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
