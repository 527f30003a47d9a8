"""The TensorFlow engine: layers and sites (`nn`), the model built from a network's one
declaration, optimisers, data batches, the training step with its fault plan, replicas. The
only layer (with the families' computing parts) that imports TensorFlow."""
