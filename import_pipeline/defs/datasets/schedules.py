"""Maintenance of the datasets tables: search view refresh, planner statistics, and indexes
that a killed bulk import left dropped."""

import dagster as dg

from import_pipeline.load.datasets import analyze, refresh_search
from import_pipeline.postgres.constraints import restore_abandoned
from import_pipeline.resources import PostgresResource


@dg.op
def refresh_search_and_analyze(context: dg.OpExecutionContext, postgres: PostgresResource) -> None:
    """Put back the indexes and foreign keys any killed bulk import (of any family) left
    suspended, refresh `datasets.dataset_search` and ANALYZE the dataset tables."""
    with postgres.connection() as conn:
        restored = restore_abandoned(conn)
        refresh_search(conn)
        analyze(conn)
    if restored.indexes or restored.foreign_keys:
        context.log.warning(restored.describe())
    context.log.info("datasets: search view refreshed, tables analyzed")


@dg.job(tags={"import_pipeline/family": "datasets"})
def datasets_maintenance_job() -> None:
    refresh_search_and_analyze()


datasets_maintenance_schedule = dg.ScheduleDefinition(
    name="datasets_maintenance_schedule",
    job=datasets_maintenance_job,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: refresh the dataset search view and ANALYZE the dataset tables",
)
