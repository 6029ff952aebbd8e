"""Turn an import's staged rows into a commit of its dataset and move the ref, atomically.

`commit_import`, in one transaction and holding the dataset's ref row lock, adds the
parent's rows in `append` mode, creates the commit row and moves the ref: a failure
leaves refs and commits as they were. A file whose SHA-256 equals the one the ref's
commit came from creates no new commit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from import_pipeline.load.datasets.request import ImportRequest, file_sha256, import_id_for
from import_pipeline.load.datasets.state import (
    CommitCounts,
    RefCommit,
    UnknownBaseRef,
    abandoned_on_failure,
    branch_point,
    commit_hex,
    import_state,
    row_offsets,
)
from import_pipeline.postgres.locks import advisory_lock
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.statements import fetch_row, statement


class NothingStaged(RuntimeError):
    """A commit was asked for a file whose rows were never staged."""


class EmptyImport(RuntimeError):
    """The file holds no rows and the request does not allow an empty commit; nothing changed."""


@dataclass
class CommitResult:
    """The commit an import made (or found, when `created` is False)."""

    commit_id: str
    parent_commit_id: str | None
    row_count: int
    reject_count: int
    created: bool
    seconds: float = 0.0


def commit_import(conn: psycopg.Connection, request: ImportRequest, *, sha256: str | None = None) -> CommitResult:
    """Turn the staged rows of `request` into a commit and move its ref, in one transaction.

    Concurrent commits into one dataset queue on the ref's row lock (and, for a dataset's
    first commit, on an advisory lock); different datasets commit side by side. A file with
    no rows raises `EmptyImport` unless `request.allow_empty`.
    """
    started = time.perf_counter()
    sha = sha256 or file_sha256(request.path)
    import_id = import_id_for(request, sha)
    with advisory_lock(conn, f"datasets.dataset:{request.dataset}"), \
            abandoned_on_failure(conn, import_id, (EmptyImport, UnknownBaseRef)), conn.transaction():
        dataset_id = fetch_value(conn, statement("datasets", "upsert_dataset"),
                                 {"dataset": request.dataset, "description": request.description})
        current = fetch_row(conn, "datasets", "lock_ref", RefCommit, {"dataset_id": dataset_id, "ref": request.ref})
        if current is not None and current.source_sha256 == sha:
            kept = commit_hex(current.commit_id)
            counts = fetch_row(conn, "datasets", "commit_counts", CommitCounts, {"commit_id": kept})
            assert kept is not None and counts is not None  # the ref's commit exists
            return CommitResult(kept, None, counts.row_count, counts.reject_count, created=False,
                                seconds=time.perf_counter() - started)
        parent = commit_hex(current.commit_id) if current else branch_point(conn, request)
        state = import_state(conn, import_id)
        if state is None or not state.staged:
            raise NothingStaged(f"{request.path.name}: no completely staged rows for dataset {request.dataset!r}; "
                                "materialize the staged rows first")
        if state.staged_rows == 0 and not request.allow_empty:
            raise EmptyImport(
                f"{request.path.name} holds no rows ({state.rejects:,} rejected); {request.dataset}/{request.ref} was "
                "left as it was (set \"allow_empty\": true in its sidecar to commit an empty dataset)")
        commit_id = commit_hex(state.commit_id)
        assert commit_id is not None
        rejects = state.rejects
        params = {"commit_id": commit_id, "dataset_id": dataset_id, "parent": parent, "import_id": import_id,
                  "message": request.message or f"import {request.path.name}", "author": request.author,
                  "rejects": rejects, "source_file": request.path.name, "sha256": sha, "ref": request.ref}
        row_count = state.staged_rows
        if request.mode == "append" and parent is not None:
            if parent != commit_hex(state.parent_commit_id):
                actual = row_offsets(conn, parent)
                conn.execute(statement("datasets", "prefix_pending_rows"), params)
                conn.execute(statement("datasets", "renumber_pending_rows"),
                             {**params, "staged_offsets": Jsonb(state.row_offsets), "actual_offsets": Jsonb(actual)})
            row_count += conn.execute(statement("datasets", "copy_parent_rows"), params).rowcount
        conn.execute(statement("datasets", "insert_commit"), {**params, "row_count": row_count})
        conn.execute(statement("datasets", "move_ref"), params)
        conn.execute(statement("datasets", "touch_dataset"), params)
        conn.execute(statement("datasets", "finish_import"), params)
    return CommitResult(commit_id, parent, row_count, rejects, created=True, seconds=time.perf_counter() - started)
