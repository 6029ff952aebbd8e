"""The nightly upkeep run."""

import dagster as dg

from import_pipeline.defs.maintenance.assets import upkeep_job

maintenance_schedule = dg.ScheduleDefinition(
    name="maintenance_nightly_schedule",
    job=upkeep_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly at 03:30: ANALYZE, view refresh, index rebuilds, reject sweep",
)
