"""The commands on top (`fi-core golden|generate|inject|observe|validate|sites|describe|
check-config`): the only layer that may import every other."""
