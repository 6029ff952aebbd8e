"""Where an uploaded file's import stands, read from the Dagster instance (runs and their
materializations), as the UI shows it."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from import_pipeline.defs.landing import LandingCursor

#: The datasets import job, and the metadata its assets report that an upload's status shows.
IMPORT_JOB = "datasets_import_job"
ASSET_PREFIX = "datasets"
COUNTS = ("rows", "new_unique_rows", "rows_rejected", "duplicates", "commit_id", "new_commit")
PARTITION_TAG = "dagster/partition"
RUN_KEY_TAG = "dagster/run_key"
#: Runs of one partition looked at, newest first.
RECENT_RUNS = 20


@dataclass
class ImportStatus:
    """An upload's import: whether its file is landed, its run (once requested) and counts."""

    partition_key: str
    landed: bool
    status: str
    run_id: str | None = None
    run_url: str | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def import_status(instance: dg.DagsterInstance, folder: Path, key: str, webserver_url: str) -> ImportStatus:
    """The import of landed file `key`: of the runs importing that partition (the datasets
    import job, or a materialization of datasets assets), the one the landing sensor requested
    for the file's current version (its run key names the version), else the newest one
    created after the file was written; `status` is that run's status, or `WAITING_FOR_SENSOR`
    while none is requested, or `NOT_LANDED` when no such file is in `folder`."""
    path = folder / key
    if not path.is_file():
        return ImportStatus(key, landed=False, status="NOT_LANDED")
    stat = path.stat()
    run_key = LandingCursor(None).run_key(key, [stat.st_mtime_ns, stat.st_size])
    runs = [r for r in instance.get_runs(dg.RunsFilter(tags={PARTITION_TAG: key}), limit=RECENT_RUNS)
            if _imports_datasets(r)]
    written = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)
    run = next((r for r in runs if r.tags.get(RUN_KEY_TAG) == run_key), None)
    if run is None:
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(
            dg.RunsFilter(run_ids=[r.run_id for r in runs]))} if runs else {}
        run = next((r for r in runs if r.run_id in records and _utc(records[r.run_id].create_timestamp) >= written),
                   None)
    if run is None:
        return ImportStatus(key, landed=True, status="WAITING_FOR_SENSOR")
    return ImportStatus(key, landed=True, status=run.status.value, run_id=run.run_id,
                        run_url=f"{webserver_url.rstrip('/')}/runs/{run.run_id}", counts=_counts(instance, run.run_id))


def _imports_datasets(run: dg.DagsterRun) -> bool:
    """A run of the datasets import job, or one materializing datasets assets (from the UI, say)."""
    if run.job_name == IMPORT_JOB:
        return True
    return any(key.path[0] == ASSET_PREFIX for key in run.asset_selection or ())


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _counts(instance: dg.DagsterInstance, run_id: str) -> dict[str, Any]:
    counts: dict[str, Any] = {}
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        for name, value in materialization.metadata.items():
            if name in COUNTS:
                counts[name] = value.value
    return counts
