"""Drop foreign keys for a bulk load and add them back, validated, afterwards.

A foreign key costs a lookup and a row lock per inserted row; for millions of rows one
validation pass at the end (a single join) is far cheaper. Definitions are kept in
`import_pipeline.suspended_constraints` before anything is dropped, so a killed process
loses no constraint: the next suspension (or `restore_foreign_keys`) adds them back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from import_pipeline.postgres.identifiers import qualified_name, split_table, table_identifier
from import_pipeline.postgres.indexes import restore_indexes, suspended_indexes, suspension_lock
from import_pipeline.postgres.locks import advisory_lock, advisory_lock_if_free

FOREIGN_KEYS = """
SELECT c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype = 'f' AND c.conrelid = format('%%I.%%I', %s::text, %s::text)::regclass
ORDER BY c.conname
"""


#: The columns of a foreign key and what it does on delete, read back once it exists.
_FOREIGN_KEY_SHAPE = """
SELECT c.confdeltype, c.confrelid::regclass::text,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.i),
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.i)
FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.conname = %s
"""


class ForeignKeyBlocked(RuntimeError):
    """Rows that a recorded foreign key cannot be added back over, and that no rule says how to repair."""


def restore_foreign_keys(conn: psycopg.Connection, tables: Sequence[str] | None = None) -> list[str]:
    """Add back the recorded foreign keys (of `tables`, or all); return their names.

    Each is validated as it is added. Rows that break it are repaired the way the key
    itself would have, had it been in place when their parent row went: deleted for
    `ON DELETE CASCADE`, their columns set to NULL for `ON DELETE SET NULL`. Any other
    violation raises `ForeignKeyBlocked`, naming the constraint and how many rows break
    it; everything stays recorded for a later attempt. Runs in its own transaction.
    """
    return [name for name, _ in _restore_foreign_keys(conn, tables)]


def _restore_foreign_keys(conn: psycopg.Connection, tables: Sequence[str] | None) -> list[tuple[str, int]]:
    restored: list[tuple[str, int]] = []
    with conn.transaction():
        recorded = conn.execute(
            "SELECT table_name, constraint_name, definition FROM import_pipeline.suspended_constraints"
            " WHERE %s::text[] IS NULL OR table_name = ANY(%s::text[]) ORDER BY table_name, constraint_name",
            (None if tables is None else [qualified_name(t) for t in tables],) * 2,
        ).fetchall()
        for table, name, definition in recorded:
            present = conn.execute(
                "SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                (table_identifier(table).as_string(conn), name),
            ).fetchone()
            repaired = 0
            if present is None:
                repaired = _add_foreign_key(conn, table, name, definition)
            conn.execute(
                "DELETE FROM import_pipeline.suspended_constraints WHERE table_name = %s AND constraint_name = %s",
                (table, name),
            )
            restored.append((name, repaired))
    return restored


def _add_foreign_key(conn: psycopg.Connection, table: str, name: str, definition: str) -> int:
    """Add foreign key `name` on `table` and validate it, repairing what its delete rule
    covers; return how many rows were repaired."""
    target = table_identifier(table)
    if definition.rstrip().upper().endswith("NOT VALID"):  # it was never validated: keep it so
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            target, sql.Identifier(name), sql.SQL(definition)))
        return 0
    try:
        with conn.transaction():  # a savepoint: the common case costs one validating scan
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                target, sql.Identifier(name), sql.SQL(definition)))
        return 0
    except psycopg.errors.ForeignKeyViolation:
        pass  # rows break it: add it unvalidated, repair what its rule covers, validate
    conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} NOT VALID").format(
        target, sql.Identifier(name), sql.SQL(definition)))
    shape = conn.execute(_FOREIGN_KEY_SHAPE, (target.as_string(conn), name)).fetchone()
    assert shape is not None  # it was added just now
    on_delete, parent, columns, parent_columns = shape
    orphan = sql.SQL("{} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
        sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier("c", c)) for c in columns),
        sql.SQL(parent),  # regclass text: already quoted as needed
        sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("p", pc), sql.Identifier("c", c))
                              for c, pc in zip(columns, parent_columns, strict=True)),
    )
    if on_delete == "c":
        repaired = conn.execute(sql.SQL("DELETE FROM {} c WHERE {}").format(target, orphan)).rowcount
    elif on_delete == "n":
        repaired = conn.execute(sql.SQL("UPDATE {} c SET {} WHERE {}").format(
            target, sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in columns), orphan,
        )).rowcount
    else:
        repaired = 0
        blocking = conn.execute(sql.SQL("SELECT count(*) FROM {} c WHERE {}").format(target, orphan)).fetchone()
        if blocking and blocking[0]:
            raise ForeignKeyBlocked(
                f"foreign key {name} of {table} cannot be restored: {blocking[0]:,} rows refer to missing rows of "
                f"{parent} ({', '.join(columns)}); fix or delete them, then run `import-pipeline migrate`")
    conn.execute(sql.SQL("ALTER TABLE {} VALIDATE CONSTRAINT {}").format(target, sql.Identifier(name)))
    return repaired


@contextmanager
def suspended_foreign_keys(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[list[str]]:
    """Drop the foreign keys declared on `tables` for the block; add them back when it ends.

    Same contract as `suspended_indexes`: use it outside a transaction block; it commits
    its own drop and restore, also when the block raises. The tables' suspension locks are
    held for the block, so `restore_abandoned` leaves these keys to this process.
    """
    with ExitStack() as locks:
        for table in tables:
            locks.enter_context(advisory_lock(conn, suspension_lock(table)))
        with _foreign_keys_dropped(conn, tables) as dropped:
            yield dropped


@contextmanager
def _foreign_keys_dropped(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[list[str]]:
    restore_foreign_keys(conn, tables)
    dropped: list[str] = []
    with conn.transaction():
        for table in tables:
            for name, definition in conn.execute(FOREIGN_KEYS, split_table(table)).fetchall():
                conn.execute(
                    "INSERT INTO import_pipeline.suspended_constraints (table_name, constraint_name, definition)"
                    " VALUES (%s, %s, %s)",
                    (qualified_name(table), name, definition),
                )
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(table_identifier(table), sql.Identifier(name))
                )
                dropped.append(name)
    try:
        yield dropped
    finally:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.rollback()
        restore_foreign_keys(conn, tables)


@dataclass
class BulkLoadMode:
    """What `bulk_load_mode` suspended, and how long putting it back took (set on exit)."""

    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    restore_seconds: float = 0.0


@contextmanager
def bulk_load_mode(conn: psycopg.Connection, tables: Sequence[str]) -> Iterator[BulkLoadMode]:
    """Suspend the secondary indexes and foreign keys of `tables` for the block.

    On exit the indexes are rebuilt first, then the foreign keys are added back and
    validated (using those indexes); `restore_seconds` says how long that took.
    """
    mode = BulkLoadMode()
    started = 0.0

    def finished() -> None:
        mode.restore_seconds = time.perf_counter() - started

    with ExitStack() as stack:
        # Exit runs in reverse: indexes come back first, then the foreign keys, then the clock stops.
        stack.callback(finished)
        mode.foreign_keys = stack.enter_context(suspended_foreign_keys(conn, tables))
        for table in tables:
            mode.indexes.extend(stack.enter_context(suspended_indexes(conn, table)))
        try:
            yield mode
        finally:
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
                conn.rollback()
            started = time.perf_counter()


@dataclass
class Restored:
    """What `restore_abandoned` put back: index and foreign key names, and per foreign key the
    rows it repaired (deleted or set to NULL) to be added back."""

    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)
    repaired_rows: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for a log: what was restored and repaired."""
        parts = []
        if self.indexes:
            parts.append(f"rebuilt indexes {', '.join(self.indexes)}")
        if self.foreign_keys:
            parts.append(f"added back foreign keys {', '.join(self.foreign_keys)}")
        if self.repaired_rows:
            parts.append("repaired rows " + ", ".join(f"{n}: {c:,}" for n, c in self.repaired_rows.items()))
        return "; ".join(parts) + " (left suspended by an import that died)"


SUSPENDED_TABLES = """
SELECT table_name FROM import_pipeline.suspended_indexes
UNION SELECT table_name FROM import_pipeline.suspended_constraints
ORDER BY 1
"""


def restore_abandoned(conn: psycopg.Connection, tables: Sequence[str] | None = None) -> Restored:
    """Put back the indexes and foreign keys that a process which died left suspended (on
    `tables`, or on any table): indexes first, then the foreign keys, repaired and validated
    as `restore_foreign_keys` says. A table whose suspension lock a live process holds (a
    bulk load under way) is left alone. Use it outside a transaction block."""
    restored = Restored()
    with conn.transaction():
        recorded = [t for (t,) in conn.execute(SUSPENDED_TABLES)]
    wanted = None if tables is None else {qualified_name(t) for t in tables}
    candidates = [t for t in recorded if wanted is None or t in wanted]
    with ExitStack() as locks:
        free = [t for t in candidates if locks.enter_context(advisory_lock_if_free(conn, suspension_lock(t)))]
        for table in free:
            restored.indexes.extend(restore_indexes(conn, table))
        if free:
            for name, repaired in _restore_foreign_keys(conn, free):
                restored.foreign_keys.append(name)
                if repaired:
                    restored.repaired_rows[name] = repaired
    return restored


def suspended_objects(conn: psycopg.Connection, schema: str) -> list[str]:
    """The indexes and constraints of tables in `schema` that are not in force: recorded as
    suspended (dropped for a bulk load), invalid indexes, and constraints not validated.
    Empty when every one of them is in place."""
    return [name for (name,) in conn.execute(
        """SELECT 'suspended index ' || index_name FROM import_pipeline.suspended_indexes
            WHERE split_part(table_name, '.', 1) = %(schema)s
           UNION ALL
           SELECT 'suspended foreign key ' || constraint_name || ' of ' || table_name
             FROM import_pipeline.suspended_constraints WHERE split_part(table_name, '.', 1) = %(schema)s
           UNION ALL
           SELECT 'invalid index ' || i.indexrelid::regclass::text FROM pg_index i
             JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %(schema)s AND NOT i.indisvalid
           UNION ALL
           SELECT 'constraint not validated ' || co.conname FROM pg_constraint co
             JOIN pg_namespace n ON n.oid = co.connamespace
            WHERE n.nspname = %(schema)s AND NOT co.convalidated
           ORDER BY 1""", {"schema": schema})]
