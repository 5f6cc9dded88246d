"""Tabular benchmarks as objectives, and multi-seed runners."""
