"""Property documents as rows, on the real samples; and the fake's documents shaped like them."""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from import_pipeline.generate.properties import PropertyWorld
from import_pipeline.sources.properties.documents import (
    PROPERTY_COLUMNS,
    AddressRows,
    ValidationError,
    case_rows,
    document_hash,
    problem,
    summary_row,
)

DATA = Path(__file__).resolve().parent / "data" / "properties"
ADDRESSES: list[dict[str, Any]] = json.loads((DATA / "address_details.json").read_text(encoding="utf-8"))
CASE: dict[str, Any] = json.loads((DATA / "case_example.json").read_text(encoding="utf-8"))
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def rows(document: dict[str, Any]) -> AddressRows:
    return AddressRows(document, municipality="Aarhus", is_on_market=False, case_id=None, search_hash="s",
                       fetched_at=NOW)


def test_every_real_address_document_becomes_rows() -> None:
    built = [rows(d) for d in ADDRESSES]
    first = dict(zip(PROPERTY_COLUMNS, built[0].property, strict=True))
    assert first["address_id"] == ADDRESSES[0]["addressID"]
    assert (first["municipality_code"], first["zip_code"], first["road_name"]) == (751, 8200, "Finsensgade")
    assert (first["latitude"], first["longitude"]) == (56.175655, 10.205496)
    assert first["bfe_numbers"] == [5632031] and first["year_built"] == 1950 and first["energy_label"] == "d"
    assert json.loads(first["document"]) == ADDRESSES[0]
    assert sum(len(b.buildings) for b in built) == sum(len(d.get("buildings") or []) for d in ADDRESSES)


def test_a_registration_shared_by_a_buildings_addresses_is_one_row_with_each_addresss_area() -> None:
    built = [rows(d) for d in ADDRESSES]
    registrations = {r[0]: r for b in built for r in b.registrations}
    links = [link for b in built for link in b.links]
    assert len(registrations) == 97 and len(links) == 537  # the sample repeats 44 sales on 11 addresses
    shared = "31e936d6-e418-4e3b-bdad-0d251a41a229"
    assert sorted({area for _, rid, area in links if rid == shared and area is not None}) == [50, 53, 59, 66]


def test_the_case_example_becomes_a_row() -> None:
    row = case_rows(CASE, municipality="Frederikssund", address_id="ignored", search_hash="s", fetched_at=NOW)
    assert row[:10] == ("f2687747-0bd7-4ded-aa4c-8dc123b9e624", "0a3f50aa-6f17-32b8-e044-0003ba298018",
                        "Frederikssund", 2995000, 18168, -7.7, 189, "open", "e09560ae-906d-486c-b2ba-a57e1e06f211",
                        "EDC Poul Erik Bech")


def test_the_hash_is_of_canonical_json() -> None:
    reordered = dict(reversed(list(ADDRESSES[0].items())))
    assert document_hash(reordered) == document_hash(ADDRESSES[0])
    assert document_hash({**ADDRESSES[0], "livingArea": 51}) != document_hash(ADDRESSES[0])


@pytest.mark.parametrize(("field", "value", "message"), [
    ("livingArea", "big", "livingArea: Input should be a valid number"),
    ("addressID", None, "addressID: Input should be a valid string"),
    ("registrations", [{"registrationID": "1", "date": "2025-13-45"}], "registrations.0.date"),
])
def test_a_bad_typed_value_is_named_in_one_line(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        rows({**ADDRESSES[0], field: value})
    assert message in problem(raised.value) and "\n" not in problem(raised.value)


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a document (list items under `[]`)."""
    if isinstance(value, dict):
        return set().union(*[{prefix + k} | key_paths(v, prefix + k + ".") for k, v in value.items()])
    if isinstance(value, list):
        return set().union(set(), *[key_paths(v, prefix + "[].") for v in value])
    return set()


def test_the_fakes_documents_have_the_real_keys_and_nesting() -> None:
    world = PropertyWorld(200, seed=1)
    villas = world.search("København", None, True)
    real = set().union(*[key_paths(d) for d in ADDRESSES])
    always = set.intersection(*[key_paths(d) for d in ADDRESSES])
    for villa in villas:
        fake = key_paths(world.address_document(villa))
        assert fake <= real, fake - real
        assert always <= fake, always - fake
    on_market = next(v for v in world.search("København", None, True) if world.on_market(v))
    case = world.case_document(on_market)
    allowed = key_paths(CASE) | {"address." + k for k in real}
    assert key_paths(case) <= allowed, key_paths(case) - allowed
    assert case.keys() == CASE.keys() and case["realtor"].keys() == CASE["realtor"].keys()
    assert case["address"].keys() >= {k for k in CASE["address"] if k in always}
    assert summary_row(world.summary(on_market))[6] == world.summary(on_market)["caseID"]
