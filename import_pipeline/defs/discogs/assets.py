"""discogs assets: each dump type's documents, then its relation rows (the graph), per dump date."""

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from import_pipeline.defs.discogs.partitions import dump_dates
from import_pipeline.defs.discogs.resources import DiscogsFiles
from import_pipeline.defs.ownership import OWNERS
from import_pipeline.defs.rejects import warn_rejects
from import_pipeline.load.discogs.documents import DUMP_TYPES, document_stream
from import_pipeline.load.discogs.graph import derive_graph
from import_pipeline.postgres.guards import MAX_DELETE_SHARE
from import_pipeline.postgres.tables import table_is_empty
from import_pipeline.records import Progress, RowStream
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.discogs.dump import DumpFormatError

GROUP = "discogs"
FAMILY_TAG = {"import_pipeline/family": "discogs"}
#: The graph asset of each document type.
GRAPHS = {"artists": "artist_graph", "labels": "label_graph", "masters": "master_graph", "releases": "release_graph"}


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["discogs", name])


class DumpImportConfig(dg.Config):
    """Run configuration of a dump type's import."""

    max_delete_share: float = Field(
        default=MAX_DELETE_SHARE, ge=0.0, le=1.0,
        description="Largest share of the stored records that may be deleted for being absent from this dump; "
                    "more is refused and nothing changes. 1.0 allows a dump that really lost most records.")


def documents_asset(dump_type: str) -> dg.AssetsDefinition:
    """The asset `discogs/<dump_type>`: the dump's records merged into `discogs.<dump_type>`."""

    @dg.asset(
        key=key(dump_type),
        partitions_def=dump_dates,
        group_name=GROUP,
        kinds={"postgres", "xml"}, owners=OWNERS,
        op_tags=FAMILY_TAG,
        metadata={"write_mode": "merge", "merge_key": ["data_id"], "hash_column": "raw_hash",
                  "table": f"discogs.{dump_type}", "suspend_indexes_when_empty": True},
        description=f"discogs.{dump_type}: the {dump_type} of one monthly dump as JSON documents, merged on data_id; "
                    "a record whose bytes did not change is neither converted nor sent; records absent from a "
                    "complete, reject-free dump are deleted",
    )
    def documents(context: dg.AssetExecutionContext, config: DumpImportConfig, discogs_files: DiscogsFiles,
                  postgres: PostgresResource) -> RowStream:
        dump_date = context.partition_key
        try:
            date = dt.datetime.strptime(dump_date, "%Y%m%d").date()
        except ValueError:
            raise dg.Failure(description=f"partition {dump_date!r} is not a dump date (YYYYMMDD)") from None
        path = discogs_files.dump(dump_date, dump_type)
        with postgres.connection() as conn:
            first_load = table_is_empty(conn, f"discogs.{dump_type}")
        path_taken = ("first load: indexes suspended, records converted by the parsing children" if first_load
                      else "re-load: only new and changed records converted")
        context.log.info(f"{path.name}: {path_taken}")

        def report(progress: Progress) -> None:
            if progress.seconds - reported[0] >= 5:
                reported[0] = progress.seconds
                context.log.info(f"{path.name}: {progress.records:,} records, "
                                 f"{progress.records_per_second:,.0f} records/s")

        reported = [0.0]
        stream = document_stream(path, dump_type, date, convert_in_child=first_load,
                                 delete_absent=config.max_delete_share, progress=report)
        rows = stream.rows

        def checked() -> Iterator[Sequence[Any]]:
            try:
                yield from rows
            except DumpFormatError as exc:
                raise dg.Failure(description=str(exc)) from None
            warn_rejects(context.log, path.name, stream.rejects)

        stream.rows = checked()
        return stream

    return documents


def graph_asset(dump_type: str) -> dg.AssetsDefinition:
    """The asset `discogs/<type>_graph`: relation rows of the documents the dump changed."""

    @dg.asset(
        key=key(GRAPHS[dump_type]),
        deps=[key(dump_type)],
        partitions_def=dump_dates,
        group_name=GROUP,
        kinds={"postgres", "xml"}, owners=OWNERS,
        op_tags=FAMILY_TAG,
        description=f"The relation tables derived from discogs.{dump_type}, for the documents written since the "
                    "last derivation",
    )
    def graph(context: dg.AssetExecutionContext, postgres: PostgresResource) -> dg.MaterializeResult:
        with postgres.connection() as conn:
            result = derive_graph(conn, dump_type)
        context.log.info(f"{dump_type}: relations of {result.documents:,} changed documents derived in "
                         f"{result.seconds:.1f} s: {result.rows}")
        return dg.MaterializeResult(metadata={
            "documents": result.documents, "rows_written": result.rows, "seconds": round(result.seconds, 3),
            "dagster/row_count": sum(result.rows.values()),
        })

    return graph


artists, labels, masters, releases = (documents_asset(t) for t in DUMP_TYPES)
artist_graph, label_graph, master_graph, release_graph = (graph_asset(t) for t in DUMP_TYPES)

import_job = dg.define_asset_job(
    "discogs_import_job",
    selection=dg.AssetSelection.groups(GROUP),
    tags=FAMILY_TAG,
    description="The documents and graph of one dump date (a sensor run selects one type)",
)
