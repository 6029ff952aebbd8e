"""`import-pipeline demo`: materialize the main jobs on sample data, headless.

The example family, the gamedata family on small generated dumps (3,000 items, 600 nanos,
perks and symbiant drops) and the datasets family on a generated 5,000-row CSV, all
written once under `$IMPORT_PIPELINE_HOME/demo/`.

Runs go into the Dagster instance that `dagster.yaml` describes (so `import-pipeline up`
shows them afterwards), or an ephemeral one when DAGSTER_HOME is not set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from import_pipeline.definitions import defs
from import_pipeline.postgres.connect import home_dir

DEMO_ITEMS = 3_000
DEMO_NANOS = 600
DEMO_CSV = "demo_sales.csv"
DEMO_CSV_ROWS = 5_000


@dataclass(frozen=True)
class DemoRun:
    """One run of the demo: a job of the code location, its partition, and optionally a subset
    of its assets."""

    job: str
    partition: str | None = None
    assets: tuple[tuple[str, ...], ...] | None = None


def run_plan() -> list[DemoRun]:
    """What the demo runs, in dependency order: the code location's own jobs."""
    from import_pipeline.defs.example.partitions import regions
    from import_pipeline.defs.gamedata.partitions import dump_kinds

    plan = [DemoRun("example_stations_job", assets=(("example", "stations"),))]
    plan += [DemoRun("example_readings_job", key) for key in regions.get_partition_keys()]
    plan.append(DemoRun("example_stations_job", assets=(("example", "station_summary"),)))
    plan += [DemoRun("gamedata_dump_job", kind) for kind in dump_kinds.get_partition_keys()]
    plan.append(DemoRun("gamedata_extras_job"))
    plan.append(DemoRun("datasets_import_job", DEMO_CSV))
    plan.append(DemoRun("datasets_search_job"))
    return plan


def prepare_gamedata(folder: Path) -> None:
    """Write small generated gamedata files into `folder` (the demo's landing folder), once."""
    from import_pipeline.generate import gamedata

    if (folder / "symbiants.csv").exists():
        return
    gamedata.generate(folder, items=DEMO_ITEMS, nanos=DEMO_NANOS)
    aoids = [doc["AOID"] for doc in gamedata.records(DEMO_ITEMS, nano=False, seed=1)]
    gamedata.write_perks(folder / "perks.json", aoids[:60])
    gamedata.write_symbiants(folder / "symbiants.csv", aoids[-120:])


def prepare_datasets(folder: Path, instance: dg.DagsterInstance) -> None:
    """Write a small generated CSV into `folder` (the demo's datasets landing folder) once, and
    register its partition, as the landing sensor would."""
    from import_pipeline.bench.datasets import write_csv
    from import_pipeline.defs.datasets.partitions import DATASET_FILES

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / DEMO_CSV).exists():
        write_csv(folder / DEMO_CSV, DEMO_CSV_ROWS, 6)
    instance.add_dynamic_partitions(DATASET_FILES, [DEMO_CSV])


def run_demo() -> int:
    """Run every step of `run_plan` on the demo's files; print one line per materialization;
    0 on success. The landing folders point at the demo's (`IMPORT_PIPELINE_*_DIR`)."""
    from import_pipeline.defs.datasets.resources import LANDING_ENV as DATASETS_ENV
    from import_pipeline.defs.gamedata.resources import LANDING_ENV as GAMEDATA_ENV

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    demo = home_dir() / "demo"
    prepare_gamedata(demo / "gamedata")
    prepare_datasets(demo / "datasets", instance)
    os.environ[GAMEDATA_ENV] = str(demo / "gamedata")
    os.environ[DATASETS_ENV] = str(demo / "datasets")
    location = defs()
    for step in run_plan():
        job = location.resolve_job_def(step.job)
        result = job.execute_in_process(
            instance=instance, partition_key=step.partition, raise_on_error=False,
            asset_selection=None if step.assets is None else [dg.AssetKey(list(key)) for key in step.assets],
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        if not result.success:
            print(f"demo: run {result.run_id} of {step.job} failed; see `import-pipeline up` for its logs")
            return 1
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            rows = next((meta[k].value for k in ("dagster/row_count", "rows_written", "rows") if k in meta), "?")
            where = f" [{event.partition}]" if event.partition else ""
            details = ", ".join(
                f"{key.removeprefix('rows_')} {meta[key].value}"
                for key in ("rows_inserted", "rows_updated", "rows_unchanged", "rows_deleted", "rows_rejected",
                            "items_new", "items_changed", "items_unchanged", "items_removed", "new_unique_rows",
                            "new_commit")
                if key in meta
            )
            key = event.asset_key.to_user_string() if event.asset_key else "?"
            print(f"{key}{where}: {rows} rows written ({details})")
    return 0
