"""datasets assets, one run per landed file: stage its rows, commit them, refresh the search view."""

import dagster as dg

from import_pipeline.defs.datasets.partitions import dataset_files
from import_pipeline.defs.datasets.resources import DatasetFiles
from import_pipeline.defs.ownership import OWNERS
from import_pipeline.defs.rejects import warn_rejects
from import_pipeline.load.datasets.commit import EmptyImport, NothingStaged, commit_import
from import_pipeline.load.datasets.maintenance import analyze, refresh_search
from import_pipeline.load.datasets.request import FileTooLarge
from import_pipeline.load.datasets.staging import stage_file
from import_pipeline.load.datasets.state import UnknownBaseRef
from import_pipeline.postgres.constraints import restore_abandoned
from import_pipeline.records import Progress
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.datasets.excel_file import UnsupportedFile
from import_pipeline.table_metadata import table_metadata

GROUP = "datasets"
FAMILY_TAG = {"import_pipeline/family": "datasets"}


@dg.asset(
    key=["datasets", "staged_rows"],
    partitions_def=dataset_files,
    group_name=GROUP,
    kinds={"postgres", "csv"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
)
def staged_rows(
    context: dg.AssetExecutionContext, postgres: PostgresResource, dataset_files_folder: DatasetFiles
) -> dg.MaterializeResult:
    """The landed file's rows, streamed, hashed and staged; new row contents stored once.
    An interrupted run resumes after its last staged batch."""
    request = dataset_files_folder.request(context.partition_key)

    def report(progress: Progress) -> None:
        context.log.info(progress.describe(request.path.name, "rows"))

    try:
        with postgres.connection() as conn:
            result = stage_file(conn, request, run_id=context.run.run_id, partition_key=context.partition_key,
                                progress=report, second_connection=postgres.connection)
            catalog = table_metadata(conn, "datasets.rows")
    except (FileTooLarge, UnsupportedFile, UnknownBaseRef) as exc:
        raise dg.Failure(description=str(exc)) from None
    warn_rejects(context.log, request.path.name, result.rejects, result.first_rejects)
    if result.skipped:
        context.log.info(f"{request.path.name} is already {request.dataset}/{request.ref}'s commit: nothing to do")
    rebuild = {} if result.index_rebuild_seconds is None else {
        "index_rebuild_seconds": round(result.index_rebuild_seconds, 3)}
    return dg.MaterializeResult(metadata={
        **catalog,
        **rebuild,
        "dataset": request.dataset,
        "rows": result.rows,
        "new_unique_rows": result.new_unique_rows,
        "duplicates": result.duplicates,
        "rows_rejected": result.rejects,
        "bytes": result.bytes,
        "seconds": round(result.seconds, 3),
        "rows_per_second": round(result.rows / result.seconds) if result.seconds else 0,
        "resumed_from_rows": result.resumed_from_rows,
        "already_committed": result.skipped,
        "sha256": result.sha256,
    })


@dg.asset(
    key=["datasets", "commits"],
    deps=[staged_rows],
    partitions_def=dataset_files,
    group_name=GROUP,
    kinds={"postgres", "csv"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
)
def commits(
    context: dg.AssetExecutionContext, postgres: PostgresResource, dataset_files_folder: DatasetFiles
) -> dg.MaterializeResult:
    """The file's staged rows as a new commit of its dataset, its ref moved in the same transaction."""
    request = dataset_files_folder.request(context.partition_key)
    try:
        with postgres.connection() as conn:
            result = commit_import(conn, request)
            catalog = table_metadata(conn, "datasets.commit_rows")
    except (NothingStaged, EmptyImport, UnknownBaseRef) as exc:
        raise dg.Failure(description=str(exc)) from None
    return dg.MaterializeResult(metadata={
        **catalog,
        "dataset": request.dataset,
        "ref": request.ref,
        "mode": request.mode,
        "commit_id": result.commit_id,
        "parent_commit_id": result.parent_commit_id or "",
        "rows_in_commit": result.row_count,
        "rows_rejected": result.reject_count,
        "new_commit": result.created,
        "seconds": round(result.seconds, 3),
    })


@dg.asset(
    key=["datasets", "dataset_search"],
    deps=[commits],
    group_name=GROUP,
    kinds={"postgres", "csv"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
    automation_condition=dg.AutomationCondition.eager(),
)
def dataset_search(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
    """The search view over all datasets, refreshed concurrently (readers are not blocked)
    after new commits and hourly. The hourly run also puts back any index or foreign key a
    killed bulk import (of any family) left suspended, and refreshes planner statistics."""
    with postgres.connection() as conn:
        restored = restore_abandoned(conn)
        refresh_search(conn)
        analyze(conn)
        catalog = table_metadata(conn, "datasets.dataset_search")
    if restored.indexes or restored.foreign_keys:
        context.log.warning(restored.describe())
    return dg.MaterializeResult(metadata={
        **catalog,
        "restored_after_dead_import": len(restored.indexes) + len(restored.foreign_keys),
    })


import_job = dg.define_asset_job(
    "datasets_import_job",
    selection=dg.AssetSelection.assets(staged_rows, commits),
    tags=FAMILY_TAG,
    description="One landed file (its partition): rows staged and hashed, then committed to its dataset's ref",
)
search_job = dg.define_asset_job(
    "datasets_search_job",
    selection=dg.AssetSelection.assets(dataset_search),
    tags=FAMILY_TAG,
    description="Refresh the dataset search view, ANALYZE, and put back what dead imports left suspended",
)
