"""skype assets: an export's pass over its messages, then the conversations and participants derived from them."""

import dagster as dg
from pydantic import Field

from import_pipeline.defs.ownership import OWNERS
from import_pipeline.defs.rejects import warn_rejects
from import_pipeline.defs.skype.partitions import skype_exports
from import_pipeline.defs.skype.resources import SkypeFiles
from import_pipeline.load.skype.messages import import_messages, refresh_conversations
from import_pipeline.load.skype.search import DEFAULT_LANGUAGE, set_search_language
from import_pipeline.postgres.retry import RetryPolicy
from import_pipeline.records import Progress
from import_pipeline.resources import PostgresResource
from import_pipeline.sources.skype.export import ExportFormatError
from import_pipeline.table_metadata import table_metadata

GROUP = "skype"
FAMILY_TAG = {"import_pipeline/family": "skype"}


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["skype", name])


class MessagesConfig(dg.Config):
    """Run configuration of an export's pass."""

    batch_mb: float = Field(default=8.0, gt=0, description="Megabytes of message text per committed batch")
    attempts: int = Field(default=6, ge=1, description="Tries of a batch after a transient database error")
    search_language: str = Field(default=DEFAULT_LANGUAGE,
                                 description="Text search configuration of the message index (simple, english...)")


@dg.asset(
    key=key("messages"),
    partitions_def=skype_exports,
    group_name=GROUP,
    kinds={"postgres", "json"}, owners=OWNERS,
    op_tags=FAMILY_TAG,
    description="skype.messages from one export (messages.json or the export .tar), merged on (conversation, id): "
                "the same export again changes nothing, a newer one adds new messages and rewrites edited ones",
)
def messages(context: dg.AssetExecutionContext, config: MessagesConfig, skype_files: SkypeFiles,
             postgres: PostgresResource) -> dg.MaterializeResult:
    path = skype_files.path(context.partition_key)

    def report(progress: Progress) -> None:
        context.log.info(progress.describe(path.name, "messages"))

    try:
        result = import_messages(postgres.connection, path, batch_mb=config.batch_mb,
                                 policy=RetryPolicy(attempts=config.attempts), partition_key=context.partition_key,
                                 run_id=context.run.run_id, progress=report)
    except ExportFormatError as exc:
        raise dg.Failure(description=str(exc)) from None
    with postgres.connection() as conn:
        if set_search_language(conn, config.search_language):
            context.log.info(f"message index rebuilt for the {config.search_language!r} text search configuration")
        catalog = table_metadata(conn, "skype.messages")
    warn_rejects(context.log, path.name, result.rejects, result.first_rejects)
    return dg.MaterializeResult(metadata={
        **catalog,
        "conversations": result.conversations,
        "messages": result.messages,
        "inserted": result.inserted,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "repeated_in_export": result.duplicates,
        "rejects": result.rejects,
        "retries": result.retries,
        "batches": result.batches,
        "mb": round(result.bytes / 1e6, 1),
        "seconds": round(result.seconds, 3),
        "messages_per_second": round(result.messages_per_second),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec(key("conversations"), deps=[key("messages")], partitions_def=skype_exports, group_name=GROUP,
                     kinds={"postgres", "json"}, owners=OWNERS,
                     description="skype.conversations: message counts, first and last times"),
        dg.AssetSpec(key("participants"), deps=[key("messages")], partitions_def=skype_exports, group_name=GROUP,
                     kinds={"postgres", "json"}, owners=OWNERS,
                     description="skype.participants: writers and listed members, with counts"),
    ],
    partitions_def=skype_exports,
    can_subset=False,
    op_tags=FAMILY_TAG,
    name="skype_conversations",
)
def conversations(postgres: PostgresResource):
    """Recount conversations and refresh participants, set-based, from what the passes wrote."""
    with postgres.connection() as conn:
        changed, participants = refresh_conversations(conn)
        conversation_table = table_metadata(conn, "skype.conversations")
        participant_table = table_metadata(conn, "skype.participants")
    yield dg.MaterializeResult(asset_key=key("conversations"), metadata={
        **conversation_table, "rows_changed": changed, "conversations": conversation_table["dagster/row_count"]})
    yield dg.MaterializeResult(asset_key=key("participants"), metadata={
        **participant_table, "rows_changed": participants, "participants": participant_table["dagster/row_count"]})


import_job = dg.define_asset_job("skype_import_job", selection=dg.AssetSelection.groups(GROUP), tags=FAMILY_TAG,
                                 description="One export: its messages, then conversations and participants")
