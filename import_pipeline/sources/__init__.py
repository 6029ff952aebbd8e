"""Sources: streaming parsers and clients that turn bytes into records. No Dagster, no database."""
