"""Strategies and peers side by side on tabular benchmarks: NAS-Bench-201 (paper 000), NASLib's NAS-Bench-101
and -301 samples, and accuracy against latency on NAS-Bench-201."""
