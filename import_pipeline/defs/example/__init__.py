"""Example family: weather stations, partitioned readings and a summary (IO manager end to end)."""
