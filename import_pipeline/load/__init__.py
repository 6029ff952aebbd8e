"""Each family's load procedure: its source's records written through the engine (no Dagster here)."""
