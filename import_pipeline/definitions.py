"""The code location: every family's definitions merged with the shared resources."""

import dagster as dg

from import_pipeline.defs.datasets.definitions import defs as datasets_defs
from import_pipeline.defs.example.definitions import defs as example_defs
from import_pipeline.defs.gamedata.definitions import defs as gamedata_defs
from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.resources import PostgresResource

postgres = PostgresResource()

defs = dg.Definitions.merge(
    example_defs,
    gamedata_defs,
    datasets_defs,
    dg.Definitions(resources={"postgres": postgres, "io_manager": PostgresBulkIOManager(postgres=postgres)}),
)
