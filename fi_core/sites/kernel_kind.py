"""What conv and dense share: a site whose second operand is a trainable kernel.

The kernel's gradient is summed over the replicas in the step (`grad_wt`); the first operand is
the activation, one slice per replica (`grad_in`). The variables are created as they always
were (kernel, optional bias, optional gain; seeds (workload seed, site index)), so a checkpoint
keeps its layout and its hash.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from fi_core.sites import Backward, SiteKind
from fi_core.sites.kernel import WS_EPSILON, KernelSite
from fi_core.spec.passes import GRAD_IN, GRAD_WT


class KernelKind(SiteKind):
    """A site kind whose weight operand is the layer's kernel (conv, dense)."""

    backward: ClassVar[tuple[Backward, ...]] = (Backward(GRAD_IN, 0, summed=False),
                                                Backward(GRAD_WT, 1, summed=True))
    batched: ClassVar[tuple[bool, bool]] = (True, False)

    def variables(self, site: KernelSite, seed: tuple[int, int]) -> dict[str, Any]:
        import tensorflow as tf

        from fi_core.engine import nn

        shape = site.kernel_shape
        receptive = math.prod(shape[:-2])  # k x k for a conv, 1 for a dense
        fan_in, fan_out = receptive * site.cin, receptive * site.cout
        initial = (nn.fan_in_normal(shape, fan_in, seed) if site.init == "fan_in_normal"
                   else nn.glorot_normal(shape, fan_in, fan_out, seed))
        made = {"kernel": tf.Variable(initial, name="kernel", aggregation=nn.TRAINABLE)}
        made["bias"] = (tf.Variable(tf.zeros([site.cout]), name="bias",
                                    aggregation=nn.TRAINABLE) if site.bias else None)
        made["gain"] = (tf.Variable(tf.ones([site.cout]), name="gain",
                                    aggregation=nn.TRAINABLE) if site.standardised else None)
        return made

    def native_operands(self, layer: Any, inputs: tuple[Any, ...]) -> tuple[Any, Any]:
        return inputs[0], self.weight(layer)

    @staticmethod
    def weight(layer: Any) -> Any:
        """The op's weight operand: the kernel, or its scaled standardisation
        (kernel - mean) * gain / sqrt(max(fan_in * variance, eps)) per output channel, so a
        forward weight fault hits the standardised kernel, as the artifact means it to."""
        import tensorflow as tf

        if layer.gain is None:
            return tf.convert_to_tensor(layer.kernel)
        axes = list(range(layer.kernel.shape.rank - 1))
        mean, variance = tf.nn.moments(layer.kernel, axes=axes, keepdims=True)
        fan_in = float(math.prod(layer.kernel.shape[:-1]))
        scale = tf.math.rsqrt(tf.maximum(variance * fan_in, WS_EPSILON)) * layer.gain
        return (layer.kernel - mean) * scale

    def finish(self, layer: Any, y: Any) -> Any:
        import tensorflow as tf

        return y if layer.bias is None else tf.nn.bias_add(y, layer.bias)
