"""import_pipeline: bulk imports into PostgreSQL as partitioned, observable Dagster assets."""
