"""Benchmark objectives only: tabular lookups (NAS-Bench-201, NASLib's NAS-Bench-101 and -301 samples) and test
functions. The drivers that run strategies on them live outside the library, in the repository's
``experiments/`` (package ``archtune_experiments``)."""
