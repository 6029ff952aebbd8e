"""The resources every family shares, defined once: the database and the bulk IO manager."""

import dagster as dg

from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.resources import PostgresResource


@dg.definitions
def shared_resources() -> dg.Definitions:
    """`postgres` (the configured or embedded server) and `io_manager` (COPY into its tables)."""
    postgres = PostgresResource()
    return dg.Definitions(resources={"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres)})
