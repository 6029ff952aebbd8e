"""The hourly materialization of the dataset search view (with the maintenance it carries)."""

import dagster as dg

from import_pipeline.defs.datasets.assets import search_job

datasets_search_schedule = dg.ScheduleDefinition(
    name="datasets_search_schedule",
    job=search_job,
    cron_schedule="17 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly: refresh the dataset search view, ANALYZE the dataset tables, put back suspended indexes",
)
