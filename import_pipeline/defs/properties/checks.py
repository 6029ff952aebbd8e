"""Asset checks of the properties family."""

import dagster as dg

from import_pipeline.defs.properties.assets import key
from import_pipeline.defs.properties.partitions import municipalities
from import_pipeline.postgres.statements import statement
from import_pipeline.resources import PostgresResource


@dg.asset_check(asset=key("details"), description="Every listed villa is stored or known to be unavailable "
                                                   "(404 or invalid, in properties.unavailable)")
def every_listed_address_accounted_for(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        rows = conn.execute(statement("properties", "unaccounted_addresses")).fetchall()
    missing = {municipality: count for municipality, count in rows}
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"unaccounted": sum(missing.values()),
                  "municipalities": ", ".join(f"{m}: {n}" for m, n in sorted(missing.items())) or "none",
                  "municipalities_listed": len(municipalities.get_partition_keys())},
    )
