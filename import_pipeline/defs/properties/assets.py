"""properties assets: search results -> address details -> cases, one municipality per partition.

Every step that calls the API is in the `properties_api` pool and tagged with the family, so
that the runs of a backfill, a schedule and the UI together stay within the pool's limit;
the runs that do go share the one rate limit (load/properties/rate_share.py).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from import_pipeline.defs.ownership import OWNERS
from import_pipeline.defs.properties.partitions import municipalities
from import_pipeline.defs.properties.resources import PropertyApi
from import_pipeline.defs.rejects import warn_rejects
from import_pipeline.load.properties.details import CasesPhase, DetailsPhase, remove_unlisted
from import_pipeline.load.properties.fetch import CrawlFailed
from import_pipeline.load.properties.phase import Phase, PhaseResult, run_phase
from import_pipeline.load.properties.rate_share import SharedRate
from import_pipeline.load.properties.search import search_rows
from import_pipeline.postgres.guards import MAX_DELETE_SHARE, DeletionRefused
from import_pipeline.records import RowStream
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.properties.documents import SUMMARY_COLUMNS
from import_pipeline.table_metadata import table_metadata

GROUP = "properties"
FAMILY_TAG = {"import_pipeline/family": "properties"}
POOL = "properties_api"


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["properties", name])


class CrawlConfig(dg.Config):
    """Run configuration of the properties crawl."""

    refresh: bool = Field(default=False, description="Fetch every document again, even when its search summary "
                                                     "did not change (and retry ids that answered 404)")
    max_delete_share: float = Field(
        default=MAX_DELETE_SHARE, ge=0.0, le=1.0,
        description="details: largest share of the municipality's stored properties that may be deleted because "
                    "the search no longer lists them; more is refused and nothing changes")


@dg.asset(
    key=key("search_results"),
    partitions_def=municipalities,
    group_name=GROUP,
    kinds={"postgres", "api"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
    pool=POOL,
    metadata={"write_mode": "replace", "partition_column": "municipality", "table": "properties.search_results"},
)
def search_results(context: dg.AssetExecutionContext, property_api: PropertyApi,
                   postgres: PostgresResource) -> RowStream:
    """Every villa the API lists for the municipality, exactly once (split by zip code past
    10,000 hits, shifted pages read again); replaces the partition's earlier list."""
    municipality = context.partition_key
    stream = RowStream(columns=SUMMARY_COLUMNS, rows=())

    def rows() -> Iterator[Sequence[Any]]:
        # Read by the IO manager after this function returns: the client and the rate lease
        # live until the last row.
        with property_api.client() as client, \
                SharedRate(postgres.connection, context.run.run_id, property_api.rate_limit, client.pacer):
            listed = search_rows(client, municipality, per_page=property_api.per_page,
                                 max_failure_ratio=property_api.max_failure_ratio, log=context.log.info,
                                 progress_seconds=property_api.progress_seconds)
            try:
                yield from listed.rows
            except CrawlFailed as exc:
                raise dg.Failure(description=str(exc)) from None
            finally:
                stream.rejects.extend(listed.rejects)

    stream.rows = rows()
    return stream


def _run(context: dg.AssetExecutionContext, phase: Phase, asset: str, config: CrawlConfig,
         property_api: PropertyApi, postgres: PostgresResource) -> PhaseResult:
    municipality = context.partition_key
    with property_api.client() as client, \
            SharedRate(postgres.connection, context.run.run_id, property_api.rate_limit, client.pacer) as shared:
        if shared.crawlers > 1:
            context.log.info(f"{shared.crawlers} crawls share the rate limit of {property_api.rate_limit}/s")
        try:
            result = run_phase(phase, connect=postgres.connection, client=client, municipality=municipality,
                               settings=property_api.phase_settings(refresh=config.refresh), asset=asset,
                               run_id=context.run.run_id, log=context.log.info)
        except CrawlFailed as exc:
            raise dg.Failure(description=str(exc)) from None
    warn_rejects(context.log, result.what, result.failed, result.first_rejects)
    return result


def _metadata(result: PhaseResult, table: str, postgres: PostgresResource, municipality: str) -> dict[str, Any]:
    written = result.written
    with postgres.connection() as conn:
        catalog = table_metadata(conn, table, partition={"municipality": municipality})
    return {
        **catalog,
        "to_fetch": result.to_fetch,
        "fetched": result.fetched,
        "failed": result.failed,
        "new": written.new,
        "changed": written.changed,
        "unchanged": written.unchanged,
        "rows_written": dict(written.rows),
        "requests": result.requests.get("requests", 0),
        "retries": result.requests.get("retries", 0),
        "workers": result.workers,
        "seconds": round(result.seconds, 3),
        "documents_per_second": round(result.documents_per_second, 1),
    }


@dg.asset(
    key=key("details"),
    deps=[key("search_results")],
    partitions_def=municipalities,
    group_name=GROUP,
    kinds={"postgres", "api"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
    pool=POOL,
)
def details(context: dg.AssetExecutionContext, config: CrawlConfig, property_api: PropertyApi,
            postgres: PostgresResource) -> dg.MaterializeResult:
    """properties.properties, buildings, registrations: the address document of each listed villa
    whose search summary is new or changed (all with `refresh`), merged on address id + hash;
    properties the search no longer lists are deleted (at most `max_delete_share` of them)."""
    try:
        with postgres.connection() as conn:
            removed = remove_unlisted(conn, context.partition_key, config.max_delete_share)
    except DeletionRefused as exc:
        raise dg.Failure(description=str(exc)) from None
    if removed:
        context.log.info(f"{context.partition_key}: {removed:,} properties the search no longer lists were deleted")
    result = _run(context, DetailsPhase(context.partition_key), "properties/details", config, property_api, postgres)
    return dg.MaterializeResult(metadata={
        **_metadata(result, "properties.properties", postgres, context.partition_key), "removed": removed})


@dg.asset(
    key=key("cases"),
    deps=[key("details")],
    partitions_def=municipalities,
    group_name=GROUP,
    kinds={"postgres", "api"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
    pool=POOL,
)
def cases(context: dg.AssetExecutionContext, config: CrawlConfig, property_api: PropertyApi,
          postgres: PostgresResource) -> dg.MaterializeResult:
    """properties.cases and price_changes: the case of each villa on the market whose summary is
    new or changed, merged on case id + hash; a new price adds a price change."""
    result = _run(context, CasesPhase(context.partition_key), "properties/cases", config, property_api, postgres)
    return dg.MaterializeResult(metadata=_metadata(result, "properties.cases", postgres, context.partition_key))


crawl_job = dg.define_asset_job(
    "properties_crawl_job",
    selection=dg.AssetSelection.groups(GROUP),
    tags=FAMILY_TAG,
    description="Search, details and cases of one municipality",
)
