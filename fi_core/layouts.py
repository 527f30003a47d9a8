"""The artifact's operand layouts in TensorFlow, for one replica's slice of a site.

The training step never uses these: it runs TensorFlow's own conv kernels and their native
gradients. At the injection step they turn an artifact position into the element it means, and
compute the effect of a corrupted operand as the artifact's op applied to the difference.
"""

from __future__ import annotations

import tensorflow as tf

from fi_core.architecture import FORWARD, GRAD_IN, GRAD_WT, Site


def interleave(site: Site, dy: tf.Tensor) -> tf.Tensor:
    """dY `[n,H',W',C]` spread to `[n,H,W,C]` with zeros between (stride > 1), dY[0] at the
    site's interleave offset."""
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


def _pad_spatial(site: Site, t: tf.Tensor) -> tf.Tensor:
    p = site.pad
    return tf.pad(t, [[0, 0], [p, p], [p, p], [0, 0]]) if p else t


def rotate_kernel(w: tf.Tensor) -> tf.Tensor:
    """`[k,k,Cin,Cout]` -> rotated 180 degrees, in/out swapped: `[k,k,Cout,Cin]`."""
    return tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])


def operands(site: Site, pass_: str, x: tf.Tensor | None, w: tf.Tensor,
             dy: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor]:
    """(input operand, weight operand) of the forward op, grad_in or grad_wt, in the artifact's
    layout, for one replica's `x` (forward input), `w` (kernel) and `dy` (output gradient)."""
    dense = site.kind == "dense"
    if pass_ == FORWARD:
        return x, w
    if pass_ == GRAD_IN:
        if dense:
            return dy, tf.transpose(w)
        return _pad_spatial(site, interleave(site, dy)), rotate_kernel(w)
    if pass_ == GRAD_WT:
        if dense:
            return tf.transpose(x), dy
        return (_pad_spatial(site, tf.transpose(x, [3, 1, 2, 0])),
                tf.transpose(interleave(site, dy), [1, 2, 0, 3]))
    raise ValueError(pass_)


def apply_op(site: Site, pass_: str, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """The op of a pass on operands in the artifact's layout: forward is the layer's own conv
    (stride, 'same'); both backward passes are stride-1 VALID convs (matmuls for dense)."""
    if site.kind == "dense":
        return tf.matmul(a, b)
    if pass_ == FORWARD:
        return tf.nn.conv2d(a, b, site.stride, "SAME")
    return tf.nn.conv2d(a, b, 1, "VALID")


def weight_grad_to_native(site: Site, dw: tf.Tensor) -> tf.Tensor:
    """grad_wt output `[Cin,k,k,Cout]` -> kernel layout `[k,k,Cin,Cout]`."""
    return dw if site.kind == "dense" else tf.transpose(dw, [1, 2, 0, 3])


def weight_grad_to_artifact(site: Site, dw: tf.Tensor) -> tf.Tensor:
    return dw if site.kind == "dense" else tf.transpose(dw, [2, 0, 1, 3])


def native_weight_positions(site: Site, positions: tf.Tensor) -> tf.Tensor:
    """Artifact grad_wt output positions (cin,i,j,cout) -> kernel positions (i,j,cin,cout)."""
    return positions if site.kind == "dense" else tf.gather(positions, [1, 2, 0, 3], axis=1)
