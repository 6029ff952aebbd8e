"""The property API's documents as table rows: typed columns for filtering, the whole document kept.

A document's typed columns are validated with pydantic (`AddressFields`, `CaseFields`):
a value of the wrong type (`"livingArea": "big"`) makes the document a reject naming the
field, instead of failing the batch in PostgreSQL. Keys the models do not name are
ignored; the document is stored whole as `jsonb` either way, with `document_hash`, the
SHA-256 of its canonical JSON (sorted keys, compact, UTF-8), to tell a changed document
from an unchanged one without comparing bodies.

Registrations (sales) belong to a BFE property, not to one address: the API repeats the
same `registrationID` on every address of a building, with the address's own `area`. So a
registration is one row, and the link to each address carries that address's area.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["InvalidDocument", "ValidationError", "document_hash", "case_rows", "summary_row", "problem"]


class InvalidDocument(ValueError):
    """A document that validates but cannot be stored as it is (it names another id than asked for)."""


def canonical_json(document: Any) -> bytes:
    """`document` as canonical JSON: sorted keys, no whitespace, UTF-8."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def document_hash(document: Any) -> str:
    """The SHA-256 (hex) of `document`'s canonical JSON."""
    return hashlib.sha256(canonical_json(document)).hexdigest()


def json_text(document: Any) -> str:
    """`document` as JSON text for a `jsonb` column."""
    return orjson.dumps(document).decode()


def problem(error: ValidationError) -> str:
    """A validation error in one line: each bad field's path and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {str(e.get('input'))[:60]!r})"
        for e in error.errors()
    )


class _Fields(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Municipality(_Fields):
    code: int | None = Field(default=None, alias="municipalityCode")
    name: str | None = None


class _Coordinates(_Fields):
    lat: float | None = None
    lon: float | None = None


class BuildingFields(_Fields):
    """The typed columns of one building of an address."""

    building_number: str | None = Field(default=None, alias="buildingNumber")
    building_name: str | None = Field(default=None, alias="buildingName")
    year_built: int | None = Field(default=None, alias="yearBuilt")
    year_renovated: int | None = Field(default=None, alias="yearRenovated")
    total_area: float | None = Field(default=None, alias="totalArea")
    housing_area: float | None = Field(default=None, alias="housingArea")
    basement_area: float | None = Field(default=None, alias="basementArea")
    number_of_rooms: int | None = Field(default=None, alias="numberOfRooms")
    number_of_floors: int | None = Field(default=None, alias="numberOfFloors")
    heating_installation: str | None = Field(default=None, alias="heatingInstallation")
    external_wall_material: str | None = Field(default=None, alias="externalWallMaterial")
    roofing_material: str | None = Field(default=None, alias="roofingMaterial")


class RegistrationFields(_Fields):
    """The typed columns of one registration (a sale) of an address."""

    registration_id: str = Field(alias="registrationID", min_length=1)
    amount: int | None = None
    date: dt.date | None = None
    type: str | None = None
    living_area: float | None = Field(default=None, alias="livingArea")
    per_area_price: int | None = Field(default=None, alias="perAreaPrice")
    municipality_code: int | None = Field(default=None, alias="municipalityCode")
    property_number: int | None = Field(default=None, alias="propertyNumber")
    area: float | None = None


class AddressFields(_Fields):
    """The typed columns of an address document (`GET /addresses/{id}`)."""

    address_id: str = Field(alias="addressID", min_length=1)
    address_type: str | None = Field(default=None, alias="addressType")
    municipality: _Municipality | None = None
    zip_code: int | None = Field(default=None, alias="zipCode")
    road_name: str | None = Field(default=None, alias="roadName")
    house_number: str | None = Field(default=None, alias="houseNumber")
    floor: str | None = None
    door: str | None = None
    city_name: str | None = Field(default=None, alias="cityName")
    coordinates: _Coordinates | None = None
    living_area: float | None = Field(default=None, alias="livingArea")
    weighted_area: float | None = Field(default=None, alias="weightedArea")
    energy_label: str | None = Field(default=None, alias="energyLabel")
    latest_valuation: int | None = Field(default=None, alias="latestValuation")
    bfe_numbers: list[int] = Field(default_factory=list, alias="bfeNumbers")
    buildings: list[BuildingFields] = Field(default_factory=list)
    registrations: list[RegistrationFields] = Field(default_factory=list)


class SummaryFields(_Fields):
    """The typed columns of a search result's summary of an address."""

    address_id: str = Field(alias="addressID", min_length=1)
    municipality: _Municipality | None = None
    zip_code: int | None = Field(default=None, alias="zipCode")
    road_name: str | None = Field(default=None, alias="roadName")
    house_number: str | None = Field(default=None, alias="houseNumber")
    is_on_market: bool = Field(default=False, alias="isOnMarket")
    case_id: str | None = Field(default=None, alias="caseID")


class _Realtor(_Fields):
    realtor_id: str | None = Field(default=None, alias="realtorID")
    name: str | None = None


class _CaseAddress(_Fields):
    address_id: str | None = Field(default=None, alias="addressID")


class CaseFields(_Fields):
    """The typed columns of a case document (`GET /cases/{id}`)."""

    case_id: str = Field(alias="caseID", min_length=1)
    address: _CaseAddress | None = None
    price: int | None = Field(default=None, alias="priceCash")
    per_area_price: int | None = Field(default=None, alias="perAreaPrice")
    price_change_percentage: float | None = Field(default=None, alias="priceChangePercentage")
    days_on_market: int | None = Field(default=None, alias="daysOnMarket")
    status: str | None = None
    realtor: _Realtor | None = None
    monthly_expense: int | None = Field(default=None, alias="monthlyExpense")
    lot_area: float | None = Field(default=None, alias="lotArea")
    housing_area: float | None = Field(default=None, alias="housingArea")


SUMMARY_COLUMNS = ("address_id", "municipality_code", "zip_code", "road_name", "house_number", "is_on_market",
                   "case_id", "summary", "summary_hash")
PROPERTY_COLUMNS = ("address_id", "municipality", "municipality_code", "zip_code", "road_name", "house_number",
                    "floor", "door", "city_name", "latitude", "longitude", "living_area", "weighted_area",
                    "year_built", "energy_label", "latest_valuation", "is_on_market", "case_id", "bfe_numbers",
                    "address_type", "document", "hash", "search_hash", "fetched_at")
BUILDING_COLUMNS = ("address_id", "position", "building_number", "building_name", "year_built", "year_renovated",
                    "total_area", "housing_area", "basement_area", "number_of_rooms", "number_of_floors",
                    "heating_installation", "external_wall_material", "roofing_material", "document")
REGISTRATION_COLUMNS = ("registration_id", "amount", "date", "type", "living_area", "per_area_price",
                        "municipality_code", "property_number")
LINK_COLUMNS = ("address_id", "registration_id", "area")
CASE_COLUMNS = ("case_id", "address_id", "municipality", "price", "per_area_price", "price_change_percentage",
                "days_on_market", "status", "realtor_id", "realtor_name", "monthly_expense", "lot_area",
                "housing_area", "document", "hash", "search_hash", "fetched_at")


def summary_row(summary: dict[str, Any]) -> tuple[Any, ...]:
    """A search summary as a `properties.search_results` row (SUMMARY_COLUMNS); raises ValidationError."""
    fields = SummaryFields.model_validate(summary)
    municipality = fields.municipality or _Municipality()
    return (fields.address_id, municipality.code, fields.zip_code, fields.road_name, fields.house_number,
            fields.is_on_market, fields.case_id, json_text(summary), document_hash(summary))


class AddressRows:
    """An address document as the rows of `properties`, `buildings`, `registrations` and their
    links; building it raises pydantic's ValidationError for a document with a bad typed field."""

    def __init__(self, document: dict[str, Any], *, municipality: str, is_on_market: bool, case_id: str | None,
                 search_hash: str, fetched_at: dt.datetime) -> None:
        fields = AddressFields.model_validate(document)
        self.address_id = fields.address_id
        self.hash = document_hash(document)
        self.search_hash = search_hash
        self.is_on_market = is_on_market
        self.case_id = case_id
        coordinates = fields.coordinates or _Coordinates()
        code = fields.municipality.code if fields.municipality else None
        years = [b.year_built for b in fields.buildings if b.year_built is not None]
        self.property = (
            fields.address_id, municipality, code, fields.zip_code, fields.road_name, fields.house_number,
            fields.floor, fields.door, fields.city_name, coordinates.lat, coordinates.lon, fields.living_area,
            fields.weighted_area, min(years) if years else None, fields.energy_label, fields.latest_valuation,
            is_on_market, case_id, fields.bfe_numbers, fields.address_type, json_text(document), self.hash,
            search_hash, fetched_at,
        )
        raw_buildings = document.get("buildings") or []
        self.buildings = [
            (fields.address_id, position, b.building_number, b.building_name, b.year_built, b.year_renovated,
             b.total_area, b.housing_area, b.basement_area, b.number_of_rooms, b.number_of_floors,
             b.heating_installation, b.external_wall_material, b.roofing_material, json_text(raw))
            for position, (b, raw) in enumerate(zip(fields.buildings, raw_buildings, strict=True))
        ]
        registrations = {r.registration_id: r for r in fields.registrations}  # a repeated id counts once
        self.registrations = [
            (r.registration_id, r.amount, r.date, r.type, r.living_area, r.per_area_price, r.municipality_code,
             r.property_number)
            for r in registrations.values()
        ]
        self.links = [(fields.address_id, r.registration_id, r.area) for r in registrations.values()]


def case_rows(document: dict[str, Any], *, municipality: str, address_id: str, search_hash: str,
              fetched_at: dt.datetime) -> tuple[Any, ...]:
    """A case document as a `properties.cases` row (CASE_COLUMNS); raises ValidationError.

    `address_id` (the search result's) is used when the case does not name its address.
    """
    fields = CaseFields.model_validate(document)
    realtor = fields.realtor or _Realtor()
    return (fields.case_id, (fields.address.address_id if fields.address else None) or address_id, municipality,
            fields.price, fields.per_area_price, fields.price_change_percentage, fields.days_on_market,
            fields.status, realtor.realtor_id, realtor.name, fields.monthly_expense, fields.lot_area,
            fields.housing_area, json_text(document), document_hash(document), search_hash, fetched_at)
