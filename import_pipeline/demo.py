"""`import-pipeline demo`: every family's jobs on a small sample of its source, headless, then
one summary table.

The samples are generated once under `$IMPORT_PIPELINE_HOME/demo/<family>/` (the family's
landing folder for the run): the example stations, a game dump with perks and symbiants, a
CSV, a Discogs dump of all four types, a Skype export, and the fake property API served on
127.0.0.1 for the run. Each family's runs go through its own jobs into the Dagster instance
of `DAGSTER_HOME` (so `import-pipeline up` shows them afterwards; an ephemeral one when
DAGSTER_HOME is not set), with their asset checks. The summary gives, per family: the
partitions run, the rows of its tables, the rows the runs changed, rejects, checks passed,
seconds and rows/s; a second demo finds nothing to change and says so.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg

from import_pipeline.definitions import defs
from import_pipeline.postgres.connect import home_dir, redact, resolve_database_url
from import_pipeline.table_metadata import metadata_count

DEMO_ITEMS = 3_000
DEMO_NANOS = 600
DEMO_CSV = "demo_sales.csv"
DEMO_CSV_ROWS = 5_000
DEMO_DUMP_DATE = "20260101"
DEMO_RELEASES = 2_000
DEMO_SKYPE = "demo_skype_export.json"
DEMO_MESSAGES = 5_000
DEMO_ADDRESSES = 2_000
DEMO_MUNICIPALITY = "Frederiksberg"
#: Metadata that counts rows a run changed, by the names the families report them under.
CHANGE_KEYS = ("rows_inserted", "rows_updated", "rows_deleted", "items_new", "items_changed", "items_removed",
               "inserted", "updated", "new", "changed", "removed", "new_unique_rows")


@dataclass(frozen=True)
class DemoRun:
    """One run of the demo: a job of the code location, its partition, and optionally a subset
    of its assets."""

    job: str
    partition: str | None = None
    assets: tuple[tuple[str, ...], ...] | None = None


@dataclass
class FamilySummary:
    """What the demo did for one family."""

    family: str
    partitions: set[str] = field(default_factory=set)
    tables: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    rewritten: int = 0
    rejects: int = 0
    checks_passed: int = 0
    checks_warned: int = 0
    checks: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


def run_plan() -> dict[str, list[DemoRun]]:
    """What the demo runs, by family, each in dependency order: the code location's own jobs."""
    from import_pipeline.defs.example.partitions import regions
    from import_pipeline.defs.gamedata.partitions import dump_kinds

    return {
        "example": [DemoRun("example_stations_job", assets=(("example", "stations"),)),
                    *(DemoRun("example_readings_job", key) for key in regions.get_partition_keys()),
                    DemoRun("example_stations_job", assets=(("example", "station_summary"),))],
        "gamedata": [*(DemoRun("gamedata_dump_job", kind) for kind in dump_kinds.get_partition_keys()),
                     DemoRun("gamedata_extras_job")],
        "datasets": [DemoRun("datasets_import_job", DEMO_CSV), DemoRun("datasets_search_job")],
        "discogs": [DemoRun("discogs_import_job", DEMO_DUMP_DATE)],
        "skype": [DemoRun("skype_import_job", DEMO_SKYPE)],
        "properties": [DemoRun("properties_crawl_job", DEMO_MUNICIPALITY)],
    }


def prepare_gamedata(folder: Path, instance: dg.DagsterInstance) -> None:
    """Small generated gamedata files (items, nanos, perks, symbiants) in `folder`, once."""
    from import_pipeline.generate import gamedata

    if (folder / "symbiants.csv").exists():
        return
    gamedata.generate(folder, items=DEMO_ITEMS, nanos=DEMO_NANOS)
    aoids = [doc["AOID"] for doc in gamedata.records(DEMO_ITEMS, nano=False, seed=1)]
    gamedata.write_perks(folder / "perks.json", aoids[:60])
    gamedata.write_symbiants(folder / "symbiants.csv", aoids[-120:])


def prepare_datasets(folder: Path, instance: dg.DagsterInstance) -> None:
    """A small generated CSV in `folder`, once, with its partition, as the landing sensor adds it."""
    from import_pipeline.bench.datasets import write_csv
    from import_pipeline.defs.datasets.partitions import DATASET_FILES

    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / DEMO_CSV).exists():
        write_csv(folder / DEMO_CSV, DEMO_CSV_ROWS, 6)
    instance.add_dynamic_partitions(DATASET_FILES, [DEMO_CSV])


def prepare_discogs(folder: Path, instance: dg.DagsterInstance) -> None:
    """A small Discogs dump (all four types) in `folder`, once, with its dump date's partition."""
    from import_pipeline.defs.discogs.partitions import DUMP_DATES
    from import_pipeline.generate import discogs

    if not list(folder.glob(f"discogs_{DEMO_DUMP_DATE}_*.xml.gz")):
        discogs.generate(folder, releases=DEMO_RELEASES, date=DEMO_DUMP_DATE)
    instance.add_dynamic_partitions(DUMP_DATES, [DEMO_DUMP_DATE])


def prepare_skype(folder: Path, instance: dg.DagsterInstance) -> None:
    """A small Skype export in `folder`, once, with its partition."""
    from import_pipeline.defs.skype.partitions import SKYPE_EXPORTS
    from import_pipeline.generate import skype

    if not (folder / DEMO_SKYPE).exists():
        export = skype.generate(folder, messages=DEMO_MESSAGES)
        export.path.rename(folder / DEMO_SKYPE)
    instance.add_dynamic_partitions(SKYPE_EXPORTS, [DEMO_SKYPE])


@contextmanager
def property_api() -> Iterator[None]:
    """The fake property API on a free port of 127.0.0.1 for the demo's crawl."""
    from import_pipeline.defs.properties.resources import BASE_URL_ENV
    from import_pipeline.generate.properties import PropertyWorld
    from import_pipeline.generate.property_api import FakePropertyApi

    with FakePropertyApi(PropertyWorld(DEMO_ADDRESSES, seed=1)) as api, _environment(BASE_URL_ENV, api.url):
        yield


@contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def run_demo() -> int:
    """Prepare every family's sample, run `run_plan`, print the summary; 0 when every run and
    check succeeded."""
    from import_pipeline.defs.datasets.resources import LANDING_ENV as DATASETS_ENV
    from import_pipeline.defs.discogs.resources import LANDING_ENV as DISCOGS_ENV
    from import_pipeline.defs.gamedata.resources import LANDING_ENV as GAMEDATA_ENV
    from import_pipeline.defs.skype.resources import LANDING_ENV as SKYPE_ENV

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    demo = home_dir() / "demo"
    samples: dict[str, tuple[str, Callable[[Path, dg.DagsterInstance], None]]] = {
        "gamedata": (GAMEDATA_ENV, prepare_gamedata), "datasets": (DATASETS_ENV, prepare_datasets),
        "discogs": (DISCOGS_ENV, prepare_discogs), "skype": (SKYPE_ENV, prepare_skype)}
    url = resolve_database_url()
    location = defs()
    summaries: list[FamilySummary] = []
    failed = False
    with ExitStack() as stack:
        for family, (env, prepare) in samples.items():
            prepare(demo / family, instance)
            stack.enter_context(_environment(env, str(demo / family)))
        stack.enter_context(property_api())
        for family, runs in run_plan().items():
            summary = FamilySummary(family)
            started = time.perf_counter()
            for step in runs:
                failed |= not _run(location, instance, step, summary)
            summary.seconds = time.perf_counter() - started
            _count_tables(url, summary)
            summaries.append(summary)
            print(f"demo: {family} done in {summary.seconds:.1f} s", flush=True)
    print_summary(summaries)
    home = os.environ.get("DAGSTER_HOME")
    print(f"\nThe data is in {redact(url)} (schemas {', '.join(s.family for s in summaries)}); "
          f"the runs are in Dagster's instance{f' at {home}' if home else ' (ephemeral: DAGSTER_HOME is not set)'}.")
    print("Next: `import-pipeline up` opens the UI on http://127.0.0.1:3000 with these runs, their checks and the "
          "sensors that import what you drop into the landing folders.")
    if failed:
        print("demo: a run or an asset check failed; see its run in `import-pipeline up`")
    return 1 if failed else 0


def _run(location: dg.Definitions, instance: dg.DagsterInstance, step: DemoRun, summary: FamilySummary) -> bool:
    job = location.resolve_job_def(step.job)
    result = job.execute_in_process(
        instance=instance, partition_key=step.partition, raise_on_error=False,
        asset_selection=None if step.assets is None else [dg.AssetKey(list(key)) for key in step.assets],
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    if step.partition:
        summary.partitions.add(step.partition)
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "write_mode" in metadata and metadata["write_mode"].value == "replace":
            summary.rewritten += metadata_count(metadata, "dagster/row_count")  # a partition replaced whole
        else:
            summary.changed += sum(metadata_count(metadata, k) for k in CHANGE_KEYS)
        summary.rejects += metadata_count(metadata, "rows_rejected") + metadata_count(metadata, "rejects")
    evaluations = [e.event_specific_data for e in result.all_events
                   if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION]
    failed = [e for e in evaluations if isinstance(e, dg.AssetCheckEvaluation) and not e.passed]
    errors = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
    summary.checks += len(evaluations)
    summary.checks_passed += len(evaluations) - len(failed)
    summary.checks_warned += len(failed) - len(errors)
    for evaluation in failed:
        print(f"demo: check {evaluation.check_name} of {evaluation.asset_key.to_user_string()} did not pass "
              f"({evaluation.severity.value.lower()})")
    if not result.success:
        print(f"demo: run {result.run_id} of {step.job} failed")
    return result.success and not errors


def _count_tables(url: str, summary: FamilySummary) -> None:
    """The rows of every table of the family's schema, biggest first."""
    with psycopg.connect(url) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1", (summary.family,))]
        for table in tables:
            row = conn.execute(f'SELECT count(*) FROM "{summary.family}"."{table}"').fetchone()  # noqa: S608
            summary.tables[table] = int(row[0]) if row else 0
    summary.tables = dict(sorted(summary.tables.items(), key=lambda item: -item[1]))


def print_summary(summaries: list[FamilySummary]) -> None:
    """The demo's table: one line per family, its biggest tables after it."""
    header = f"{'family':<10} {'parts':>5} {'rows':>9} {'changed':>8} {'rewritten':>9} {'rejects':>7} " \
             f"{'checks':>6} {'seconds':>7} {'rows/s':>8}  biggest tables"
    print("\n" + header)
    print("-" * len(header))
    for s in summaries:
        biggest = ", ".join(f"{name} {count:,}" for name, count in list(s.tables.items())[:3] if count)
        more = len([c for c in list(s.tables.values())[3:] if c])
        rate = s.rows / s.seconds if s.seconds else 0.0
        checks = f"{s.checks_passed}/{s.checks}" + ("*" if s.checks_warned else "")
        print(f"{s.family:<10} {len(s.partitions) or '-':>5} {s.rows:>9,} {s.changed:>8,} {s.rewritten:>9,} "
              f"{s.rejects:>7,} {checks:>6} {s.seconds:>7.1f} {rate:>8,.0f}  {biggest}"
              f"{f' (+{more} more)' if more else ''}")
    if any(s.checks_warned for s in summaries):
        print("* a check of warning severity did not pass (see its lines above)")
    total = sum(s.changed for s in summaries)
    print("Nothing changed: every merged table already held what its source says (partitions written whole "
          "are counted as rewritten)." if total == 0 else f"{total:,} rows changed.")

