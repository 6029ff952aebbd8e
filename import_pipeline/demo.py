"""`import-pipeline demo`: materialize the main job on bundled sample data, headless.

Runs go into the Dagster instance that `dagster.yaml` describes (so `import-pipeline up`
shows them afterwards), or an ephemeral one when DAGSTER_HOME is not set.
"""

from __future__ import annotations

import os

import dagster as dg

from import_pipeline.definitions import defs


def run_plan() -> list[tuple[list[dg.AssetsDefinition], str | None]]:
    """What the demo materializes, in dependency order: (assets, partition key) per run."""
    from import_pipeline.defs.example import assets as example
    from import_pipeline.defs.example.partitions import regions

    plan: list[tuple[list[dg.AssetsDefinition], str | None]] = [([example.stations], None)]
    plan += [([example.readings], key) for key in regions.get_partition_keys()]
    plan.append(([example.station_summary], None))
    return plan


def run_demo() -> int:
    """Materialize every step of `run_plan`; print one line per materialization; 0 on success."""
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    resources = defs.resources
    all_assets = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
    for selected, partition in run_plan():
        result = dg.materialize(
            all_assets, selection=selected, partition_key=partition, resources=resources,
            instance=instance, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if not result.success:
            print(f"demo: run {result.run_id} failed; see `import-pipeline up` for its logs")
            return 1
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            rows = meta["dagster/row_count"].value if "dagster/row_count" in meta else "?"
            where = f" [{event.partition}]" if event.partition else ""
            details = ", ".join(
                f"{key.removeprefix('rows_')} {meta[key].value}"
                for key in ("rows_inserted", "rows_updated", "rows_unchanged", "rows_deleted", "rows_rejected")
                if key in meta
            )
            print(f"{event.asset_key.to_user_string()}{where}: {rows} rows written ({details})")
    return 0
