"""Image classification: `[N, size, size, channels]` float images in, `[N]` int32 labels, one
logit per class out; softmax cross-entropy and top-1 accuracy, as the artifact trains."""

from __future__ import annotations

from typing import Any

from fi_core.spec.workloads import NUM_CLASSES
from fi_core.tasks import Task, register_task


class ImageClassification(Task):
    name = "image_classification"

    def input_shape(self, config: Any) -> Any:
        from fi_core.spec.architecture import Shape

        return Shape.image(config.image_size, config.channels)

    def output_shape(self, config: Any) -> Any:
        from fi_core.spec.architecture import Shape

        return Shape.vector(self.num_classes(config))

    def num_classes(self, config: Any) -> int:
        return NUM_CLASSES

    def batch_signature(self, config: Any) -> list[Any]:
        import tensorflow as tf

        size, channels = config.image_size, config.channels
        return [tf.TensorSpec([None, size, size, channels], tf.float32),
                tf.TensorSpec([None], tf.int32)]

    def example_losses(self, logits: Any, labels: Any) -> Any:
        import tensorflow as tf

        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)

    def example_hits(self, logits: Any, labels: Any) -> Any:
        import tensorflow as tf

        predicted = tf.argmax(logits, -1, output_type=tf.int32)
        return tf.cast(tf.equal(predicted, labels), tf.float32)


IMAGE_CLASSIFICATION = register_task(ImageClassification())
