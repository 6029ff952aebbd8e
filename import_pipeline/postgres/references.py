"""COPY into live tables with the foreign keys checked once per batch instead of once per row.

PostgreSQL checks a foreign key with a trigger call per inserted row: a lookup and a row lock
for each. Into live tables (indexes and keys in force) that is much of a large load's cost:
gamedata's nanos import after the items spent about half its time there. `ReferenceCheckedCopy`
COPYs with `session_replication_role = replica`, which skips those triggers, and then checks
the batch itself: one statement per foreign key over the batch's distinct keys, locking the
referenced rows `FOR KEY SHARE` as the triggers do, so a concurrent delete of a referenced
row waits for this transaction. A key with no referenced row fails on the server with
`foreign_key_violation` (psycopg's `ForeignKeyViolation`) naming the constraint and the key:
the transaction is aborted, as the trigger would have left it.

The skip is used only where it is equivalent, and the plain COPY otherwise: the role may set
the parameter (a superuser, or `GRANT SET` on PostgreSQL 15+), the table has no trigger of
its own (replica mode would skip it too), and each of its foreign keys is on one column, not
deferrable, between plain tables, with the referenced table free of row security and
lockable by the role. The parameter is set with `SET LOCAL` around each COPY alone, so
deletes and updates elsewhere in the transaction keep their triggers, and a killed process
leaves nothing behind. Use it inside a transaction: in autocommit mode the setting would not
outlast its own statement, and the COPY would simply run with the triggers.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import psycopg
from psycopg import sql

from import_pipeline.postgres.copy import copy_int4_columns, copy_rows
from import_pipeline.postgres.identifiers import qualified_name, table_identifier

#: The foreign keys of a table, with the referenced column's type and whether a batch check
#: would do what the key's trigger does: one column, never deferred, plain tables on both
#: sides, no row security hiding referenced rows, and the right to lock them.
_FOREIGN_KEYS = """
SELECT c.conname, a.attname::text, fn.nspname::text, ft.relname::text, fa.attname::text,
       format_type(fa.atttypid, fa.atttypmod),
       cardinality(c.conkey) = 1 AND NOT c.condeferrable AND t.relkind = 'r' AND ft.relkind = 'r'
       AND NOT ft.relrowsecurity
       AND has_table_privilege(c.confrelid, 'SELECT') AND has_table_privilege(c.confrelid, 'UPDATE')
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_class ft ON ft.oid = c.confrelid
JOIN pg_namespace fn ON fn.oid = ft.relnamespace
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1]
WHERE c.contype = 'f' AND c.conrelid = %s::regclass
ORDER BY c.conname
"""
_OWN_TRIGGERS = "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal"
_IS_SUPERUSER = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
_MAY_SET_ROLE_PARAMETER = "SELECT has_parameter_privilege('session_replication_role', 'SET')"


@dataclass(frozen=True)
class ForeignKey:
    """A single-column foreign key: `column` of the table refers to `referenced_column` of
    `referenced_schema`.`referenced_table` (names as in the catalog, unquoted)."""

    name: str
    column: str
    referenced_schema: str
    referenced_table: str
    referenced_column: str
    referenced_type: str


class ReferenceCheckedCopy:
    """COPY into a fixed set of tables, checking foreign keys per batch where that is equivalent.

    Build it with `for_tables` inside the transaction that writes; `copy_rows` and
    `copy_int4_columns` take the arguments of the module-level functions of the same names.
    """

    def __init__(self, conn: psycopg.Connection, checked: dict[str, list[ForeignKey]]) -> None:
        self.conn = conn
        #: Tables whose COPY skips the per-row triggers, with the keys checked per batch instead.
        self.checked = checked

    @classmethod
    def for_tables(cls, conn: psycopg.Connection, tables: Iterable[str]) -> ReferenceCheckedCopy:
        """Look up which of `tables` may skip the per-row checks (none when the role may not)."""
        if not may_skip_triggers(conn):
            return cls(conn, {})
        checked: dict[str, list[ForeignKey]] = {}
        for table in tables:
            regclass = table_identifier(table).as_string(conn)
            if conn.execute(_OWN_TRIGGERS, (regclass,)).fetchone() != (0,):
                continue
            keys = conn.execute(_FOREIGN_KEYS, (regclass,)).fetchall()
            if not all(key[-1] for key in keys):
                continue
            if keys:
                checked[table] = [ForeignKey(*key[:6]) for key in keys]
        return cls(conn, checked)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
                  types: Sequence[str] | None = None) -> int:
        """`copy.copy_rows`, with the table's foreign keys checked once for the whole batch."""
        keys = self._keys(table, columns)
        if keys is None:
            return copy_rows(self.conn, table, columns, rows, types)
        values: list[set[Any]] = [set() for _ in keys]
        positions = [columns.index(key.column) for key in keys]
        with _triggers_skipped(self.conn):
            count = copy_rows(self.conn, table, columns, _collecting(rows, positions, values), types)
        self._check(table, keys, values)
        return count

    def copy_int4_columns(self, table: str, names: Sequence[str], columns: Sequence[array]) -> int:
        """`copy.copy_int4_columns`, with the table's foreign keys checked once for the whole batch."""
        keys = self._keys(table, names)
        if keys is None:
            return copy_int4_columns(self.conn, table, names, columns)
        with _triggers_skipped(self.conn):
            count = copy_int4_columns(self.conn, table, names, columns)
        self._check(table, keys, [set(columns[names.index(key.column)]) for key in keys])
        return count

    def _keys(self, table: str, columns: Sequence[str]) -> list[ForeignKey] | None:
        keys = self.checked.get(table)
        # A key on a column the COPY leaves to its default: let the trigger check the default.
        if keys is None or any(key.column not in columns for key in keys):
            return None
        return keys

    def _check(self, table: str, keys: list[ForeignKey], values: list[set[Any]]) -> None:
        for key, found in zip(keys, values, strict=True):
            wanted = sorted(v for v in found if v is not None)  # MATCH SIMPLE: NULL refers to nothing
            if not wanted:
                continue
            locked = {row[0] for row in self.conn.execute(_locking_query(key), (wanted,))}
            if len(locked) < len(wanted):
                missing = next(v for v in wanted if v not in locked)
                self._fail(f'insert or update on table "{qualified_name(table)}" violates foreign key constraint '
                           f'"{key.name}": key ({key.column})=({missing}) is not present in table '
                           f'"{key.referenced_schema}.{key.referenced_table}"')

    def _fail(self, message: str) -> NoReturn:
        """Raise `ForeignKeyViolation` from the server, so the transaction is aborted as a
        trigger's failure would abort it: no caller can commit the batch by catching the error."""
        block = sql.SQL("DO $raise$ BEGIN RAISE foreign_key_violation USING MESSAGE = {}; END $raise$").format(
            sql.Literal(message.replace("$", "")))
        self.conn.execute(block)
        raise AssertionError("unreachable: the DO block raises")


def may_skip_triggers(conn: psycopg.Connection) -> bool:
    """Whether the connection's role may set `session_replication_role`."""
    if conn.info.server_version >= 150000:
        row = conn.execute(_MAY_SET_ROLE_PARAMETER).fetchone()
    else:
        row = conn.execute(_IS_SUPERUSER).fetchone()
    return bool(row and row[0])


def _locking_query(key: ForeignKey) -> sql.Composed:
    return sql.SQL("SELECT {column} FROM ONLY {table} WHERE {column} = ANY(%s::{type}[]) FOR KEY SHARE").format(
        column=sql.Identifier(key.referenced_column),
        table=sql.Identifier(key.referenced_schema, key.referenced_table),
        type=sql.SQL(key.referenced_type),
    )


def _collecting(rows: Iterable[Sequence[Any]], positions: list[int], values: list[set[Any]]) -> Iterator[Sequence[Any]]:
    """`rows` unchanged, adding each row's value at `positions[i]` to `values[i]` on the way."""
    pairs = list(zip(positions, values, strict=True))
    for row in rows:
        for position, seen in pairs:
            seen.add(row[position])
        yield row


@contextmanager
def _triggers_skipped(conn: psycopg.Connection) -> Iterator[None]:
    """`session_replication_role = replica` for the block, then the value from before."""
    row = conn.execute("SELECT current_setting('session_replication_role')").fetchone()
    before = row[0] if row else "origin"
    conn.execute("SELECT set_config('session_replication_role', 'replica', true)")
    try:
        yield
    finally:
        # After an error the transaction is aborted, and its end puts the value back.
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            conn.execute("SELECT set_config('session_replication_role', %s, true)", (before,))
