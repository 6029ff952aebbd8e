"""The catalog metadata Dagster's UI shows for a table asset (its name, rows and columns), and
counts read back from materialization metadata."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import table_identifier
from import_pipeline.postgres.tables import table_columns


def table_metadata(conn: psycopg.Connection, table: str, *, partition: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """`dagster/table_name`, `dagster/row_count` (the rows `table` holds now, or those of the
    partition when `partition` maps its columns to their values) and `dagster/column_schema`
    (the table's columns and types, from the catalog)."""
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(
        sql.SQL("{} = %s").format(sql.Identifier(column)) for column in partition) if partition else sql.SQL("")
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table_identifier(table)) + where,
                       list(partition.values()) if partition else None).fetchone()
    return {
        "dagster/table_name": table,
        "dagster/row_count": int(row[0]) if row else 0,
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(name, type_) for name, type_ in table_columns(conn, table)]),
    }


def metadata_count(metadata: Mapping[str, dg.MetadataValue], name: str) -> int:
    """The integer (or boolean, as 0/1) under `name` in materialization `metadata`; 0 when
    it is absent or not a number."""
    value = metadata[name].value if name in metadata else 0
    return int(value) if isinstance(value, int) else 0
