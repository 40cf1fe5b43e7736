"""Benchmarks for the performance issue: `make bench` runs them and rewrites RESULTS.md."""
