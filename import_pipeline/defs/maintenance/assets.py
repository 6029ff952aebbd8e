"""Nightly database upkeep as an asset of the graph: what it analyzed, refreshed, rebuilt and swept."""

import datetime as dt

import dagster as dg
from pydantic import Field

from import_pipeline.defs.ownership import OWNERS
from import_pipeline.postgres.upkeep import run_upkeep
from import_pipeline.resources import PostgresResource

GROUP = "maintenance"


class UpkeepConfig(dg.Config):
    """Thresholds of one upkeep pass."""

    max_index_bloat: float = Field(default=0.3, description="Rebuild a B-tree whose leaves are this much emptier "
                                                             "than a fresh build's")
    min_index_mb: float = Field(default=8.0, description="Smaller indexes are never rebuilt")
    reject_retention_days: float = Field(default=90.0, description="Rejects older than this are deleted")
    lock_timeout_ms: int = Field(default=2000, description="Longest wait for a lock an import holds; then skip")


@dg.asset(
    key=["maintenance", "database_upkeep"],
    group_name=GROUP,
    kinds={"postgres", "sql"}, owners=OWNERS,
    op_tags={"import_pipeline/family": "maintenance"},
    description="ANALYZE of tables changed since the last run, REFRESH of every materialized view (CONCURRENTLY "
                "where it can), REINDEX CONCURRENTLY of bloated B-trees (sizes before and after), and a sweep of "
                "old rejects; what an import holds a lock on is skipped and reported",
)
def database_upkeep(context: dg.AssetExecutionContext, config: UpkeepConfig,
                    postgres: PostgresResource) -> dg.MaterializeResult:
    with postgres.autocommit_connection() as conn:
        report = run_upkeep(conn, max_bloat=config.max_index_bloat, min_index_bytes=int(config.min_index_mb * 2**20),
                            reject_retention=dt.timedelta(days=config.reject_retention_days),
                            lock_timeout_ms=config.lock_timeout_ms)
    for name, reason in report.skipped.items():
        context.log.warning(f"{name}: {reason}")
    for index in report.reindexed:
        context.log.info(f"rebuilt {index.index}: {index.bytes_before / 2**20:,.1f} MiB -> "
                         f"{index.bytes_after / 2**20:,.1f} MiB (leaves were {index.leaf_density:.0f}% full)")
    return dg.MaterializeResult(metadata={
        "tables_analyzed": len(report.analyzed),
        "analyzed": ", ".join(report.analyzed) or "none",
        "views_refreshed": ", ".join(report.refreshed) or "none",
        "indexes_rebuilt": len(report.reindexed),
        "index_bytes_before": sum(i.bytes_before for i in report.reindexed),
        "index_bytes_after": sum(i.bytes_after for i in report.reindexed),
        "rejects_swept": report.rejects_swept,
        "skipped": dg.MetadataValue.json(report.skipped),
    })


upkeep_job = dg.define_asset_job("maintenance_job", selection=[database_upkeep],
                                 description="Database upkeep: ANALYZE, view refresh, index rebuilds, reject sweep")
