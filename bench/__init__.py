"""Benchmarks: commands that print our figures beside a peer measured in the same run."""
