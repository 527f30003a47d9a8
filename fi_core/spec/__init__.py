"""The specification: workloads, the shape pass of their networks, the builder vocabulary,
injection CSVs, campaigns and plugins. Never imports TensorFlow (an import-linter contract):
everything a command checks is checked here before TensorFlow starts."""
