"""Asset checks of the gamedata family."""

import dagster as dg

from import_pipeline.defs.gamedata.assets import key
from import_pipeline.defs.gamedata.partitions import dump_kinds
from import_pipeline.defs.rejects import rejects_check
from import_pipeline.load.gamedata.checks import orphan_counts
from import_pipeline.postgres.constraints import suspended_objects
from import_pipeline.resources import PostgresResource

items_rejects_under_ratio = rejects_check(key("items"), dump_kinds, records=("items_new", "items_changed",
                                                                         "items_unchanged"), rejects="rows_rejected",
                                          blocking=False)


@dg.asset_check(asset=key("items"), description="No owned row without its item, no unused stat value or criterion")
def no_orphan_rows(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        counts = orphan_counts(conn)
    return dg.AssetCheckResult(passed=not any(counts.values()), metadata={f"orphan_{t}": n for t, n in counts.items()})


@dg.asset_check(asset=key("items"), description="Every index and foreign key of the gamedata tables is in force "
                                                 "(none left suspended by an import that died, none invalid)")
def indexes_and_foreign_keys_in_force(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connection() as conn:
        missing = suspended_objects(conn, "gamedata")
    return dg.AssetCheckResult(passed=not missing, metadata={"not_in_force": len(missing),
                                                            "first": ", ".join(missing[:10]) or "none"})
