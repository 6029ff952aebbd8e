"""Maintenance of the datasets tables: search view refresh, planner statistics, and indexes
that a killed bulk import left dropped."""

import dagster as dg

from import_pipeline.load.datasets import analyze, refresh_search, restore_abandoned_indexes
from import_pipeline.resources import PostgresResource


@dg.op
def refresh_search_and_analyze(context: dg.OpExecutionContext, postgres: PostgresResource) -> None:
    """Refresh `datasets.dataset_search`, ANALYZE the dataset tables, and rebuild indexes a
    killed bulk import left dropped."""
    with postgres.connection() as conn:
        restored = restore_abandoned_indexes(conn)
        refresh_search(conn)
        analyze(conn)
    if restored:
        context.log.warning(f"datasets: rebuilt {', '.join(restored)}, left dropped by an import that died")
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
