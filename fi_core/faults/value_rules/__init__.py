"""The built-in value rules, one file each. Importing this package registers them in this order
(the order fixes each rule's branch in the injection step's `tf.switch_case`)."""

from fi_core.faults.value_rules import (  # noqa: F401  (registration on import)
    bitflip,
    copy_from,
    copy_random,
    explicit,
    random_finite,
    uniform,
)
