"""The details and cases phases: address documents into `properties`, `buildings` and
`registrations`; case documents into `cases` and `price_changes`."""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

import psycopg

from import_pipeline.load.properties.phase import Batch, Unavailable, Written
from import_pipeline.postgres.copy import copy_rows, merge_rows, new_or_changed
from import_pipeline.postgres.guards import check_deletion
from import_pipeline.postgres.statements import statement
from import_pipeline.sources.properties.client import PropertyApiClient
from import_pipeline.sources.properties.documents import (
    BUILDING_COLUMNS,
    CASE_COLUMNS,
    LINK_COLUMNS,
    PROPERTY_COLUMNS,
    REGISTRATION_COLUMNS,
    AddressRows,
    InvalidDocument,
    case_rows,
)

_CASE_PRICE = CASE_COLUMNS.index("price")
_CASE_SEARCH_HASH = CASE_COLUMNS.index("search_hash")

PROPERTIES = "properties.properties"
BUILDINGS = "properties.buildings"
REGISTRATIONS = "properties.registrations"
LINKS = "properties.property_registrations"
CASES = "properties.cases"
PRICE_CHANGES = "properties.price_changes"


class PendingAddress(NamedTuple):
    """A row of the `addresses_to_fetch` statement."""

    address_id: str
    summary_hash: str
    is_on_market: bool
    case_id: str | None


class PendingCase(NamedTuple):
    """A row of the `cases_to_fetch` statement."""

    case_id: str
    address_id: str
    summary_hash: str


def remove_unlisted(conn: psycopg.Connection, municipality: str, max_delete_share: float) -> int:
    """Delete `municipality`'s stored properties that its latest search no longer lists (with
    their buildings and registration links); return how many. Raises `DeletionRefused`, and
    deletes nothing, when they are more than `max_delete_share` of the stored ones."""
    with conn.transaction():
        row = conn.execute(statement("properties", "unlisted_properties"), {"municipality": municipality}).fetchone()
        unlisted, stored = row if row else (0, 0)
        if not unlisted:
            return 0
        check_deletion(f"the search of {municipality}", "properties", unlisted, stored, max_delete_share,
                       if_right="those villas really are gone")
        return conn.execute(statement("properties", "delete_unlisted_properties"),
                            {"municipality": municipality}).rowcount


def record_unavailable(conn: psycopg.Connection, kind: str, unavailable: list[Unavailable]) -> None:
    """Remember ids that failed for good for their summary, so that the next run skips them."""
    if not unavailable:
        return
    conn.execute(statement("properties", "record_unavailable"), {
        "kind": kind, "ids": [u.id for u in unavailable], "search_hashes": [u.search_hash for u in unavailable],
        "statuses": [u.status for u in unavailable], "urls": [u.url for u in unavailable],
        "reasons": [u.reason for u in unavailable],
    })


class DetailsPhase:
    """`GET /addresses/{id}` for each address whose search summary is new or changed."""

    kind = "address"
    to_fetch = "addresses_to_fetch"

    def __init__(self, municipality: str) -> None:
        self.municipality = municipality

    def pending(self, row: tuple[Any, ...]) -> PendingAddress:
        return PendingAddress(*row)

    def search_hash(self, pending: PendingAddress) -> str:
        return pending[1]

    def fetch(self, client: PropertyApiClient, pending: PendingAddress) -> dict[str, Any]:
        return client.address(pending[0])

    def build(self, pending: PendingAddress, document: dict[str, Any], fetched_at: dt.datetime) -> AddressRows:
        address_id, summary_hash, is_on_market, case_id = pending
        rows = AddressRows(document, municipality=self.municipality, is_on_market=is_on_market, case_id=case_id,
                           search_hash=summary_hash, fetched_at=fetched_at)
        if rows.address_id != address_id:
            # Stored under another id, the to-do list would ask for this one forever.
            raise InvalidDocument(f"addressID is {rows.address_id!r}, asked for {address_id!r}")
        return rows

    def write(self, conn: psycopg.Connection, batch: Batch[AddressRows]) -> Written:
        """Merge the batch's properties on key + hash; replace the buildings and registration
        links of the new and changed ones; record every fetched summary and the unavailable ids."""
        written = Written()
        fetched = batch.built
        changed = new_or_changed(conn, PROPERTIES, PROPERTY_COLUMNS, [a.property for a in fetched],
                                 ["address_id"], "hash")
        changed_ids = {row[0] for row in changed}
        merged = merge_rows(conn, PROPERTIES, PROPERTY_COLUMNS, changed, ["address_id"], hash_column="hash")
        written.new, written.changed = merged.inserted, merged.updated
        written.unchanged = len(fetched) - merged.written
        written.rows[PROPERTIES] = merged.written
        conn.execute(statement("properties", "update_property_summaries"), {
            "address_ids": [a.address_id for a in fetched], "search_hashes": [a.search_hash for a in fetched],
            "on_market": [a.is_on_market for a in fetched], "case_ids": [a.case_id for a in fetched],
        })
        if changed_ids:
            rewritten = [a for a in fetched if a.address_id in changed_ids]
            conn.execute(statement("properties", "delete_property_children"), {"address_ids": list(changed_ids)})
            written.rows[BUILDINGS] = copy_rows(conn, BUILDINGS, BUILDING_COLUMNS,
                                                (b for a in rewritten for b in a.buildings))
            registrations = {r[0]: r for a in rewritten for r in a.registrations}  # shared by addresses of a building
            written.rows[REGISTRATIONS] = merge_rows(conn, REGISTRATIONS, REGISTRATION_COLUMNS,
                                                     list(registrations.values()), ["registration_id"]).written
            written.rows[LINKS] = copy_rows(conn, LINKS, LINK_COLUMNS, (link for a in rewritten for link in a.links))
        conn.execute(statement("properties", "clear_unavailable"),
                     {"kind": self.kind, "ids": [a.address_id for a in fetched]})
        record_unavailable(conn, self.kind, batch.unavailable)
        return written


class CasesPhase:
    """`GET /cases/{id}` for each open case whose search summary is new or changed."""

    kind = "case"
    to_fetch = "cases_to_fetch"

    def __init__(self, municipality: str) -> None:
        self.municipality = municipality

    def pending(self, row: tuple[Any, ...]) -> PendingCase:
        return PendingCase(*row)

    def search_hash(self, pending: PendingCase) -> str:
        return pending[2]

    def fetch(self, client: PropertyApiClient, pending: PendingCase) -> dict[str, Any]:
        return client.case(pending[0])

    def build(self, pending: PendingCase, document: dict[str, Any], fetched_at: dt.datetime) -> tuple[Any, ...]:
        case_id, address_id, summary_hash = pending
        row = case_rows(document, municipality=self.municipality, address_id=address_id, search_hash=summary_hash,
                        fetched_at=fetched_at)
        if row[0] != case_id:
            raise InvalidDocument(f"caseID is {row[0]!r}, asked for {case_id!r}")
        return row

    def write(self, conn: psycopg.Connection, batch: Batch[tuple[Any, ...]]) -> Written:
        """Merge the batch's cases on key + hash, and add a price change for each case seen at a
        new price (its first price included)."""
        written = Written()
        changed = new_or_changed(conn, CASES, CASE_COLUMNS, batch.built, ["case_id"], "hash")
        if changed:
            old: dict[str, int | None] = dict(conn.execute(statement("properties", "case_prices"),
                                    {"case_ids": [row[0] for row in changed]}).fetchall())
            merged = merge_rows(conn, CASES, CASE_COLUMNS, changed, ["case_id"], hash_column="hash")
            written.new, written.changed = merged.inserted, merged.updated
            written.rows[CASES] = merged.written
            moves = [(row[0], old.get(row[0]), row[_CASE_PRICE]) for row in changed
                     if row[0] not in old or old[row[0]] != row[_CASE_PRICE]]
            if moves:
                written.rows[PRICE_CHANGES] = conn.execute(statement("properties", "record_price_changes"), {
                    "observed_at": dt.datetime.now(dt.UTC), "case_ids": [m[0] for m in moves],
                    "old_prices": [m[1] for m in moves], "new_prices": [m[2] for m in moves],
                }).rowcount
        written.unchanged = len(batch.built) - written.new - written.changed
        conn.execute(statement("properties", "update_case_summaries"), {
            "case_ids": [row[0] for row in batch.built],
            "search_hashes": [row[_CASE_SEARCH_HASH] for row in batch.built],
        })
        conn.execute(statement("properties", "clear_unavailable"),
                     {"kind": self.kind, "ids": [row[0] for row in batch.built]})
        record_unavailable(conn, self.kind, batch.unavailable)
        return written
