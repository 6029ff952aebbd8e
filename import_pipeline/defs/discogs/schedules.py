"""The nightly upkeep of the discogs tables."""

import dagster as dg
from pydantic import Field

from import_pipeline.load.discogs.maintenance import maintain
from import_pipeline.postgres.connect import resolve_database_url
from import_pipeline.resources import PostgresResource


class MaintenanceConfig(dg.Config):
    """How bloated an index must be to be rebuilt."""

    bloat_threshold: float = Field(default=0.3, ge=0.0, le=1.0,
                                   description="Estimated share of an index's pages beyond what its entries need")


@dg.op(tags={"import_pipeline/family": "discogs"})
def discogs_maintenance(context: dg.OpExecutionContext, config: MaintenanceConfig,
                        postgres: PostgresResource) -> dg.Output[None]:
    """Rebuild the discogs btree indexes bloated past the threshold (concurrently), ANALYZE the tables."""
    result = maintain(postgres.url or resolve_database_url(), bloat_threshold=config.bloat_threshold)
    for rebuilt in result.rebuilt:
        context.log.info(f"{rebuilt.index}: {rebuilt.bloat:.0%} bloat, {rebuilt.bytes_before / 1e6:,.1f} -> "
                         f"{rebuilt.bytes_after / 1e6:,.1f} MB in {rebuilt.seconds:.1f} s")
    context.log.info(f"{len(result.rebuilt)} of {result.checked} indexes rebuilt, {len(result.analyzed)} tables "
                     f"analyzed in {result.seconds:.1f} s")
    return dg.Output(None, metadata={
        "indexes_checked": result.checked,
        "indexes_rebuilt": {r.index: f"{r.bytes_before:,} -> {r.bytes_after:,} bytes, {r.seconds:.1f} s"
                            for r in result.rebuilt},
        "not_estimated": ", ".join(result.not_estimated) or "none",
        "tables_analyzed": len(result.analyzed),
        "seconds": round(result.seconds, 3),
    })


@dg.job(tags={"import_pipeline/family": "discogs"}, description="Rebuild bloated discogs indexes, ANALYZE")
def discogs_maintenance_job() -> None:
    discogs_maintenance()


discogs_maintenance_schedule = dg.ScheduleDefinition(
    name="discogs_maintenance_schedule",
    job=discogs_maintenance_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Nightly: REINDEX INDEX CONCURRENTLY the discogs indexes whose estimated bloat is over the "
                "threshold, then ANALYZE",
)
