"""Asset checks of the discogs family."""

import dagster as dg

from import_pipeline.defs.discogs.assets import key
from import_pipeline.load.discogs.graph import dangling_references
from import_pipeline.resources import PostgresResource


@dg.asset_check(asset=key("release_graph"), description="References to documents the mirror does not hold, per "
                                                        "relation (the real dumps hold some: a warning, not a failure)")
def graph_references_resolve(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        counts = dangling_references(conn)
    return dg.AssetCheckResult(passed=not any(counts.values()), severity=dg.AssetCheckSeverity.WARN,
                               metadata={f"dangling_{relation}": n for relation, n in counts.items()})
