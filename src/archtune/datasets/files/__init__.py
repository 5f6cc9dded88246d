"""Data files shipped with archtune (benchmark tables, MNIST-5k), each with its provenance in PROVENANCE.md;
read through ``importlib.resources.files("archtune.datasets.files")``."""
