"""Dagster definitions, one folder per import family."""
