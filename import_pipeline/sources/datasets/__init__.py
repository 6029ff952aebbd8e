"""Readers of tabular files (CSV, Excel) for the datasets family: records out, no database."""
