"""PostgresBulkIOManager: asset outputs into PostgreSQL with COPY, inputs back out.

What a write means comes from the asset's definition metadata:

- `write_mode`: `replace` (default; the asset's partition when it is partitioned, the
  whole table otherwise), `append`, or `merge` (upsert on `merge_key`).
- `merge_key`: list of key columns for `merge`; `hash_column`: compare only this column to
  decide whether a row changed (default: every non-key column).
- `partition_column`: where the partition key is stored (default `partition_key`).
- `suspend_indexes_when_empty` (merge): a merge into an empty table drops its secondary
  indexes first and rebuilds them after (reported as `index_rebuild_seconds`).
- `table`: `schema.name` (default: the asset key, its first part as schema when it has two).

Outputs may be pandas DataFrames (small data) or `RowStream`s (columns + iterator of tuples,
never held in memory). A `RowStream`'s rejects are recorded in `import_pipeline.rejects` in
the same transaction. Inputs load as DataFrames, or as a lazy `TableRef` when the input is
annotated `TableRef` or its metadata says `{"lazy": True}`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import dagster as dg
import pandas as pd

from import_pipeline.postgres.copy import append_rows, merge_rows, replace_rows
from import_pipeline.postgres.indexes import suspended_indexes
from import_pipeline.postgres.rejects import clear_rejects, write_rejects
from import_pipeline.postgres.tables import TableRef, read_rows, table_exists, table_is_empty
from import_pipeline.records import RowStream
from import_pipeline.resources import PostgresResource
from import_pipeline.table_metadata import table_metadata

WRITE_MODES = ("replace", "append", "merge")
DEFAULT_PARTITION_COLUMN = "partition_key"


def table_for(asset_key: dg.AssetKey, metadata: dict[str, Any]) -> str:
    """The table an asset is stored in: metadata `table`, else `schema.name` from its key."""
    if metadata.get("table"):
        return str(metadata["table"])
    path = asset_key.path
    return f"{path[0]}.{path[-1]}" if len(path) > 1 else f"public.{path[-1]}"


def frame_rows(frame: pd.DataFrame) -> RowStream:
    """A DataFrame as a RowStream of Python values, missing values (NaN, NaT, None) as NULL."""
    values = frame.astype(object).where(frame.notna(), None)
    return RowStream(columns=[str(c) for c in frame.columns], rows=values.itertuples(index=False, name=None))


def single_partition(context: dg.OutputContext, column: str) -> dict[str, str] | None:
    """`{partition column: key}` for a partitioned output, None for an unpartitioned one."""
    if not context.has_asset_partitions:
        return None
    keys = context.asset_partition_keys
    if len(keys) != 1:
        raise dg.Failure(
            f"{context.asset_key.to_user_string()}: one run writes one partition, got {len(keys)}; "
            "backfill this asset with one run per partition"
        )
    return {column: keys[0]}


class PostgresBulkIOManager(dg.ConfigurableIOManager):
    """Stores asset outputs in PostgreSQL tables with COPY: append, partition replace, or merge.

    Tables must exist (declare them in `sql/NNN_*.sql`). Every write reports rows written,
    rejected, seconds and rows/s as materialization metadata.
    """

    postgres: PostgresResource

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        metadata = dict(context.definition_metadata or {})
        table = table_for(context.asset_key, metadata)
        mode = metadata.get("write_mode", "replace")
        if mode not in WRITE_MODES:
            raise dg.Failure(f"write_mode {mode!r} is not one of {', '.join(WRITE_MODES)}")
        key = metadata.get("merge_key")
        if mode == "merge" and not key:
            raise dg.Failure("write_mode merge needs merge_key metadata (a list of columns)")
        stream = frame_rows(obj) if isinstance(obj, pd.DataFrame) else obj
        if not isinstance(stream, RowStream):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "PostgresBulkIOManager stores pandas DataFrames and RowStreams"
            )
        partition = single_partition(context, metadata.get("partition_column", DEFAULT_PARTITION_COLUMN))
        started = time.perf_counter()
        report: dict[str, Any] = {}
        with self.postgres.connection() as conn:
            if not table_exists(conn, table):
                raise dg.Failure(f"table {table} does not exist; declare it in a sql/NNN_*.sql migration")
            if mode == "merge":
                share = stream.delete_absent
                suspend = bool(metadata.get("suspend_indexes_when_empty")) and table_is_empty(conn, table)
                if suspend:
                    conn.commit()  # the suspension runs outside any transaction
                suspension: AbstractContextManager[list[str]] = (
                    suspended_indexes(conn, table) if suspend else nullcontext([]))
                with suspension as dropped:
                    merged = merge_rows(
                        conn, table, stream.columns, stream.rows, list(key or ()),
                        hash_column=metadata.get("hash_column"), types=stream.types,
                        delete_absent=(lambda: not stream.rejects) if share is not None else None,
                        max_delete_share=share if share is not None else 1.0, prepare=stream.prepare,
                    )
                    if suspend:
                        conn.commit()
                    rebuild_started = time.perf_counter()
                if suspend:
                    report |= {"indexes_suspended": len(dropped),
                               "index_rebuild_seconds": round(time.perf_counter() - rebuild_started, 3)}
                written = merged.written
                report |= {"rows_inserted": merged.inserted, "rows_updated": merged.updated,
                           "rows_unchanged": merged.unchanged, "rows_deleted": merged.deleted}
            elif mode == "replace":
                replaced = replace_rows(conn, table, stream.columns, stream.rows, partition=partition,
                                        types=stream.types)
                written = replaced.inserted
                report |= {"rows_deleted": replaced.deleted}
            else:
                written = append_rows(conn, table, stream.columns, stream.rows, constants=partition, types=stream.types)
            asset = context.asset_key.to_user_string()
            partition_key = next(iter(partition.values())) if partition else None
            clear_rejects(conn, asset, partition_key)
            rejected = write_rejects(conn, stream.rejects, asset=asset, partition_key=partition_key,
                                     run_id=context.run_id)
            catalog = table_metadata(conn, table, partition=partition if mode != "merge" else None)
        seconds = time.perf_counter() - started
        context.add_output_metadata(
            {
                **catalog,
                "write_mode": mode,
                "rows_written": {table: written},
                "rows_rejected": rejected,
                "seconds": round(seconds, 3),
                "rows_per_second": round(written / seconds) if seconds > 0 else 0,
                **report,
            }
        )

    def load_input(self, context: dg.InputContext) -> Any:
        upstream = context.upstream_output
        metadata = dict(upstream.definition_metadata or {}) if upstream else {}
        table = table_for(context.asset_key, metadata)
        partition_column = None
        keys: tuple[str, ...] = ()
        if context.has_asset_partitions:
            partition_column = metadata.get("partition_column", DEFAULT_PARTITION_COLUMN)
            keys = tuple(context.asset_partition_keys)
        ref = TableRef(table=table, partition_column=partition_column, partition_keys=keys)
        lazy = context.dagster_type.typing_type is TableRef or (context.definition_metadata or {}).get("lazy")
        if lazy:
            return ref
        with self.postgres.connection() as conn:
            columns, rows = read_rows(conn, ref)
        return pd.DataFrame.from_records(rows, columns=columns)

