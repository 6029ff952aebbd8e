"""An import's bookkeeping in the database: refs and their commits, the import's checkpoint
row, commit ids, and the clean-up of an import that failed. Rows come back as dataclasses."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from import_pipeline.load.datasets.request import ImportRequest
from import_pipeline.postgres.statements import fetch_row, statement


@dataclass(frozen=True)
class RefCommit:
    """The commit a ref points at, and the SHA-256 of the file it was made from."""

    commit_id: uuid.UUID
    source_sha256: str


@dataclass(frozen=True)
class CommitCounts:
    """A commit's row and reject counts."""

    row_count: int
    reject_count: int


@dataclass(frozen=True)
class ImportState:
    """An import's checkpoint: what is staged so far, whether staging is done, and the commit
    it stages for (with the parent and row offsets it was staged on)."""

    staged_rows: int
    staged_batches: int
    rejects: int
    staged: bool
    commit_id: uuid.UUID
    parent_commit_id: uuid.UUID | None
    row_offsets: dict[str, int]


@dataclass(frozen=True)
class RowOffsets:
    """Per table, the last row number of a commit."""

    row_offsets: dict[str, int]


def import_state(conn: psycopg.Connection, import_id: str) -> ImportState | None:
    return fetch_row(conn, "datasets", "import_state", ImportState, {"import_id": import_id})


def row_offsets(conn: psycopg.Connection, commit_id: str) -> dict[str, int]:
    found = fetch_row(conn, "datasets", "row_offsets", RowOffsets, {"commit_id": commit_id})
    return found.row_offsets if found else {}


class UnknownBaseRef(ValueError):
    """The ref a new ref should branch from does not exist."""


def branch_point(conn: psycopg.Connection, request: ImportRequest) -> str | None:
    """The commit a ref that does not exist yet starts from, as a git branch does: the commit
    of `request.base_ref` (default `main`), or None (a root commit) when the dataset has no
    such ref. `UnknownBaseRef` when a `base_ref` that was asked for does not exist."""
    base = request.base_ref or "main"
    if base == request.ref:
        return None
    found = fetch_row(conn, "datasets", "current_commit", RefCommit, {"dataset": request.dataset, "ref": base})
    if found is None and request.base_ref is not None:
        raise UnknownBaseRef(f"{request.path.name}: base_ref {base!r} does not exist in dataset {request.dataset!r}")
    return commit_hex(found.commit_id) if found else None


def commit_hex(commit_id: uuid.UUID | None) -> str | None:
    """A commit id as it is shown and passed around: 32 hex digits (the database stores a uuid)."""
    return None if commit_id is None else commit_id.hex


def pending_commit_id(import_id: str, parent: str | None) -> str:
    """The id the commit of this import will have: 32 hex digits of SHA-256 over the parent
    it was staged on and the import id."""
    return hashlib.sha256(f"{parent}\0{import_id}".encode()).hexdigest()[:32]


@contextmanager
def abandoned_on_failure(
    conn: psycopg.Connection, import_id: str, failures: tuple[type[BaseException], ...] = (Exception,)
) -> Iterator[None]:
    """When the block raises one of `failures`, drop the import's checkpoint and staged rows, so
    that no half import is left behind; re-raise. A lost connection or a transient server error
    keeps them (the next run resumes), as does a killed process, which raises nothing."""
    try:
        yield
    except failures as exc:
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
            raise
        try:
            conn.rollback()
            with conn.transaction():
                for name in ("abandon_import_rows", "abandon_import"):
                    conn.execute(statement("datasets", name), {"import_id": import_id})
        except psycopg.Error:
            pass  # the original error says more
        raise
