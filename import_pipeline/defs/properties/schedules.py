"""The weekly refresh of every municipality."""

import dagster as dg

from import_pipeline.defs.properties.assets import crawl_job
from import_pipeline.defs.properties.partitions import municipalities


@dg.schedule(
    name="properties_weekly_schedule",
    job=crawl_job,
    cron_schedule="0 2 * * 1",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Mondays 02:00: crawl every municipality (one run each; the family's limits queue them)",
)
def properties_weekly_schedule(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
    """One run per municipality, keyed by the week, so a re-evaluation requests nothing twice."""
    week = context.scheduled_execution_time.strftime("%G-W%V") if context.scheduled_execution_time else "now"
    return [dg.RunRequest(run_key=f"{week}:{name}", partition_key=name)
            for name in municipalities.get_partition_keys()]
