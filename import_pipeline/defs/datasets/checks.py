"""Asset checks of the datasets family."""

import dagster as dg

from import_pipeline.defs.datasets.assets import commits
from import_pipeline.load.datasets.maintenance import unresolved_commit_rows
from import_pipeline.resources import PostgresResource


@dg.asset_check(asset=commits, description="Every row of every commit resolves to a stored row content")
def commit_rows_resolve(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        missing = unresolved_commit_rows(conn)
    return dg.AssetCheckResult(passed=missing == 0, metadata={"unresolved_rows": missing})
