"""Storage: atomic files, golden-run folders, output names, resumable attempts, trace writing,
the CIFAR-10 reader and console progress. TensorFlow-free; reads and writes what the
specification describes."""
