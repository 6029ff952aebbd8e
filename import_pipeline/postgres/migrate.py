"""Apply `sql/NNN_*.sql` schema files in order, once each.

Each file runs in its own transaction and is recorded with its SHA-256 in
`import_pipeline.migrations`. Applying again changes nothing; a file whose text changed
after it was applied is refused, because the database would silently diverge from it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from import_pipeline.postgres.constraints import restore_abandoned

MIGRATION_FILE = re.compile(r"^\d{3}_[\w-]+\.sql$")
# Any constant works; it only has to be the same in every process that migrates.
MIGRATION_LOCK_KEY = 0x1A7_0A11


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message names the file and why."""


@dataclass(frozen=True)
class Migration:
    name: str
    text: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def sql_dir() -> Path:
    """The folder holding the schema files: bundled in the wheel, or the checkout's `sql/`."""
    bundled = Path(__file__).resolve().parent.parent / "sql"
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[2] / "sql"


def discover(directory: Path | None = None) -> list[Migration]:
    """The migration files of `directory` (default `sql_dir()`), sorted by name."""
    directory = directory or sql_dir()
    files = sorted(p for p in directory.iterdir() if MIGRATION_FILE.match(p.name))
    return [Migration(p.name, p.read_text(encoding="utf-8")) for p in files]


BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS import_pipeline;
CREATE TABLE IF NOT EXISTS import_pipeline.migrations (
    name        text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


def migrate_database(url: str, directory: Path | None = None) -> list[str]:
    """`apply_migrations` on a connection of its own to `url`; the names applied now."""
    with psycopg.connect(url) as conn:
        return apply_migrations(conn, directory)


def apply_migrations(conn: psycopg.Connection, directory: Path | None = None) -> list[str]:
    """Apply the not yet applied migrations; return the names applied now, in order.

    Concurrent callers serialize on an advisory lock, so two processes starting at once
    apply each file exactly once. Then whatever an import that died left suspended
    (indexes, foreign keys) is put back (`restore_abandoned`). Raises `MigrationError` when
    an applied file changed or a file fails (that file's changes are rolled back; earlier
    files stay applied).
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    conn.commit()  # leave any caller transaction; each file gets a transaction of its own
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    conn.commit()
    try:
        with conn.transaction():
            conn.execute(BOOTSTRAP)
            applied = conn.execute("SELECT name, checksum FROM import_pipeline.migrations").fetchall()
            done: dict[str, str] = dict(applied)
        for migration in migrations:
            if migration.name in done:
                if done[migration.name] != migration.checksum:
                    raise MigrationError(
                        f"{migration.name} was changed after it was applied "
                        f"(recorded sha256 {done[migration.name][:12]}, file {migration.checksum[:12]}); "
                        "add a new migration file instead of editing an applied one"
                    )
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.text)
                    conn.execute(
                        "INSERT INTO import_pipeline.migrations (name, checksum) VALUES (%s, %s)",
                        (migration.name, migration.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"{migration.name} failed: {str(exc).strip()}") from exc
            applied_now.append(migration.name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
        conn.commit()
    if directory is None:  # the project's own migrations: its suspension tables exist
        restore_abandoned(conn)
    return applied_now
