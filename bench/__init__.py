"""Benchmark scripts (``make bench``; run one with ``python -m bench.<name>``)."""
