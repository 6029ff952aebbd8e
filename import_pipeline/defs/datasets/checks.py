"""Asset checks of the datasets family."""

import dagster as dg

from import_pipeline.defs.datasets.assets import commits, staged_rows
from import_pipeline.defs.datasets.partitions import dataset_files
from import_pipeline.defs.rejects import rejects_check
from import_pipeline.load.datasets.maintenance import unresolved_commit_rows
from import_pipeline.resources import PostgresResource

staged_rows_rejects_under_ratio = rejects_check(staged_rows.key, dataset_files, records=("rows",),
                                                rejects="rows_rejected", blocking=False)


@dg.asset_check(asset=commits, description="Every row of every commit resolves to a stored row content")
def commit_rows_resolve(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        missing = unresolved_commit_rows(conn)
    return dg.AssetCheckResult(passed=missing == 0, metadata={"unresolved_rows": missing})
