"""The `conv` site kind: a square 'same'-padded 2-D convolution with a kernel variable.

Operand layouts follow the artifact (see the artifact README, "Where a fault lands"):

- forward `L`: input `[N,H,W,Cin]`, weight `[k,k,Cin,Cout]`, output (pre-bias) `[N,H',W',Cout]`;
- `L_grad_in`: input = dY zero-interleaved (stride > 1), then padded by (k-1)/2:
  `[N,H+2p,W+2p,Cout]`; weight = kernel rotated 180 degrees with in/out swapped
  `[k,k,Cout,Cin]`; output dX `[N,H,W,Cin]`;
- `L_grad_wt`: input = forward input as `[Cin,H+2p,W+2p,N]`; weight = interleaved dY as
  `[H,W,N,Cout]`; output `[Cin,k,k,Cout]`.

The training step runs TensorFlow's own conv kernels and their native gradients; the layouts
only turn an artifact position into the element it means and apply a fault by linearity.
"""

from __future__ import annotations

from typing import Any

from fi_core.ops import Op, register_op
from fi_core.sites import Shape3, register_kind
from fi_core.sites.kernel import KernelSite
from fi_core.sites.kernel_kind import KernelKind
from fi_core.spec.passes import FORWARD, GRAD_IN, GRAD_WT


def interleave(site: KernelSite, dy: Any) -> Any:
    """dY `[n,H',W',C]` spread to `[n,H,W,C]` with zeros between (stride > 1), dY[0] at the
    site's interleave offset."""
    import tensorflow as tf

    stride, offset, size = site.stride, site.interleave_offset, site.in_size
    if stride == 1 and offset == 0:
        return dy
    n, out, channels = tf.shape(dy)[0], site.out_size, dy.shape[-1]
    spread = tf.pad(dy[:, :, None, :, None, :],
                    [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, stride - 1], [0, 0]])
    spread = tf.reshape(spread, [n, out * stride, out * stride, channels])
    tail = max(0, size - out * stride - offset)
    spread = tf.pad(spread, [[0, 0], [offset, tail], [offset, tail], [0, 0]])
    return spread[:, :size, :size, :]


def _pad_spatial(site: KernelSite, t: Any) -> Any:
    import tensorflow as tf

    p = site.pad
    return tf.pad(t, [[0, 0], [p, p], [p, p], [0, 0]]) if p else t


def rotate_kernel(w: Any) -> Any:
    """`[k,k,Cin,Cout]` -> rotated 180 degrees, in/out swapped: `[k,k,Cout,Cin]`."""
    import tensorflow as tf

    return tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])


class Conv(KernelKind):
    name = "conv"

    def operand_shapes(self, site: KernelSite, pass_: str, n: int) -> Shape3:
        h, ho, p, k, cin, cout = (site.in_size, site.out_size, site.pad, site.kernel, site.cin,
                                  site.cout)
        return {
            FORWARD: ((n, h, h, cin), (k, k, cin, cout), (n, ho, ho, cout)),
            GRAD_IN: ((n, h + 2 * p, h + 2 * p, cout), (k, k, cout, cin), (n, h, h, cin)),
            GRAD_WT: ((cin, h + 2 * p, h + 2 * p, n), (h, h, n, cout), (cin, k, k, cout)),
        }[pass_]

    def forward(self, site: KernelSite, x: Any, w: Any) -> Any:
        import tensorflow as tf

        return tf.nn.conv2d(x, w, site.stride, "SAME")

    def gradient(self, site: KernelSite, pass_: str, x: Any, w: Any, dy: Any) -> Any:
        import tensorflow as tf

        strides = [1, site.stride, site.stride, 1]
        if pass_ == GRAD_IN:
            return tf.raw_ops.Conv2DBackpropInput(input_sizes=tf.shape(x), filter=w,
                                                  out_backprop=dy, strides=strides,
                                                  padding="SAME")
        return tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=tf.shape(w),
                                               out_backprop=dy, strides=strides, padding="SAME")

    def artifact_operands(self, site: KernelSite, pass_: str, x: Any, w: Any,
                          dy: Any) -> tuple[Any, Any]:
        import tensorflow as tf

        if pass_ == FORWARD:
            return x, w
        if pass_ == GRAD_IN:
            return _pad_spatial(site, interleave(site, dy)), rotate_kernel(w)
        return (_pad_spatial(site, tf.transpose(x, [3, 1, 2, 0])),
                tf.transpose(interleave(site, dy), [1, 2, 0, 3]))

    def apply(self, site: KernelSite, pass_: str, a: Any, b: Any) -> Any:
        """Forward is the layer's own conv (stride, 'same'); both backward passes are stride-1
        VALID convs."""
        import tensorflow as tf

        if pass_ == FORWARD:
            return tf.nn.conv2d(a, b, site.stride, "SAME")
        return tf.nn.conv2d(a, b, 1, "VALID")

    def to_native(self, site: KernelSite, pass_: str, result: Any) -> Any:
        """grad_wt output `[Cin,k,k,Cout]` -> kernel layout `[k,k,Cin,Cout]`."""
        import tensorflow as tf

        return tf.transpose(result, [1, 2, 0, 3])

    def to_artifact(self, site: KernelSite, pass_: str, native: Any) -> Any:
        import tensorflow as tf

        return tf.transpose(native, [2, 0, 1, 3])


CONV = register_kind(Conv())


# ---------------------------------------------------------------------- the builder op
def _conv_shape(b: Any, name: str, x: Any, filters: int, kernel: int, stride: int = 1, *,
                bias: bool = False, listed: bool = True, standardised: bool = False,
                init: str = "glorot") -> Any:
    site = KernelSite(name, CONV.name, kernel, stride, x.channels, filters, b.spatial(x, name),
                      bias=bias, in_artifact_list=listed, standardised=standardised, init=init)
    b.record("sites", site)
    return type(x).image(site.out_size, filters)


def _conv_compute(b: Any, name: str, x: Any, *args: Any, **kwargs: Any) -> Any:
    return b.layer("sites", name)(x, b.ctx)


def _conv_keras(b: Any, name: str, x: Any, filters: int, kernel: int, stride: int = 1, *,
                bias: bool = False, listed: bool = True, standardised: bool = False,
                init: str = "glorot") -> Any:
    import keras

    from fi_core.ops import _keras_layers

    layer = _keras_layers.StandardisedConv if standardised else keras.layers.Conv2D
    return layer(filters, kernel, stride, padding="same", use_bias=bias,
                 kernel_initializer=b.init, name=name)(x)


CONV_OP = register_op(Op("conv", _conv_shape, _conv_compute, _conv_keras))
"""`b.conv(name, x, filters, kernel, stride=1, *, bias=False, listed=True,
standardised=False, init="glorot")`: a square 'same'-padded conv site (forward `name`,
backward `name_grad_in` and `name_grad_wt`). `listed`: in the artifact's layer lists
(campaigns draw unlisted sites only with --all-sites). `standardised`: scaled weight
standardisation with a trainable gain (NF-ResNet); the forward weight operand is then the
standardised kernel. The bias, if any, is added after the op: an output fault is always
pre-bias."""
