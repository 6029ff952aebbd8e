"""Benchmarks: each measures a family or the engine next to a raw COPY of the same rows."""
