"""Generators of realistic source files for benchmarks and demos, modeled on shared/data samples."""
