"""Benchmarks: figures and ratios against the physical limit and against peers (not tests)."""
