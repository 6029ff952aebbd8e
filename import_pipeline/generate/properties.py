"""A deterministic world of villas, and the property API's documents about them.

Documents are shaped key for key like the real samples in `shared/data/properties/`
(`address_details.json` for `GET /addresses/{id}`, `case_example.json` for
`GET /cases/{id}`); values are generated from the seed, the address's number and its
version, so the same world always answers the same bytes. Municipality codes are the real
ones. Every address is a villa in one of the 40 municipalities (weighted by the list's
sample counts); about `on_market_share` of them have an open case. `change` bumps an
address's version (its valuation, and the price of its case, change); `insert` adds
addresses whose road sorts first, which shifts every page of a running crawl.
"""

from __future__ import annotations

import bisect
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from import_pipeline.sources.properties.municipalities import municipalities

MUNICIPALITY_CODES = {
    "København": 101, "Frederiksberg": 147, "Ballerup": 151, "Brøndby": 153, "Dragør": 155, "Gentofte": 157,
    "Gladsaxe": 159, "Glostrup": 161, "Herlev": 163, "Albertslund": 165, "Hvidovre": 167, "Høje-Taastrup": 169,
    "Lyngby-Taarbæk": 173, "Rødovre": 175, "Ishøj": 183, "Tårnby": 185, "Vallensbæk": 187, "Furesø": 190,
    "Allerød": 201, "Fredensborg": 210, "Helsingør": 217, "Hillerød": 219, "Hørsholm": 223, "Rudersdal": 230,
    "Egedal": 240, "Frederikssund": 250, "Greve": 253, "Køge": 259, "Halsnæs": 260, "Roskilde": 265,
    "Solrød": 269, "Gribskov": 270, "Odsherred": 306, "Holbæk": 316, "Faxe": 320, "Ringsted": 329,
    "Stevns": 336, "Lejre": 350, "Næstved": 370, "Vordingborg": 390,
}
ROAD_STEMS = ("Birke", "Ege", "Bøge", "Lærke", "Skov", "Strand", "Mølle", "Kirke", "Engh", "Ager", "Rose", "Hyld",
              "Solsikke", "Ahorn", "Kastanje", "Fyrre", "Gran", "Pile", "Hassel", "Æble", "Pære", "Blomme",
              "Kløver", "Valmue", "Toften", "Bakke", "Dal", "Sø", "Å", "Mose")
ROAD_ENDINGS = ("vej", "gade", "allé", "stien", "vænget", "parken", "haven", "bakken")
WALLS = ("Mursten", "Letbeton", "Træ", "Bindingsværk")
ROOFS = ("Tegl", "Built-up", "Fibercement", "Stråtag")
HEATING = ("Fjernvarme/blokvarme", "Varmepumpe", "Centralvarme med én fyringsenhed", "Elvarme")
LABELS = ("a2020", "a2015", "a2010", "b", "c", "d", "e", "f", "g")
_NAMESPACE = uuid.UUID("6f1d2c1e-9a54-4e1b-8d67-3f2a9c0b7e11")


def _slug(text: str) -> str:
    table = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "é": "e", " ": "-"})
    return text.lower().translate(table)


@dataclass
class Villa:
    """One address of the world: where it is and its current version (0: as generated)."""

    number: int
    address_id: str
    municipality: str
    zip_code: int
    road_name: str
    house_number: int
    version: int = 0

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.road_name, self.house_number, self.address_id)


@dataclass
class PropertyWorld:
    """The fake API's data: `addresses` villas, `big_municipality` holding `big_count` of them."""

    addresses: int
    seed: int = 1
    big_municipality: str | None = None
    big_count: int = 0
    zips_per_municipality: int = 6
    on_market_share: float = 0.1
    _villas: dict[str, Villa] = field(default_factory=dict, init=False)
    _by_number: dict[int, Villa] = field(default_factory=dict, init=False)
    _shared_sale: dict[int, str] = field(default_factory=dict, init=False)
    _listed: set[int] = field(default_factory=set, init=False)
    _sorted: dict[str, list[tuple[tuple[str, int, str], str]]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _next_number: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        names = [m.name for m in municipalities()]
        weights = [max(m.properties_sampled, 1) for m in municipalities()]
        rng = random.Random(self.seed)
        previous: dict[str, int] = {}
        for number in range(self.addresses):
            if number < self.big_count and self.big_municipality:
                municipality = self.big_municipality
            else:
                municipality = rng.choices(names, weights)[0]
            self._add(self._villa(number, municipality, rng))
            if number % 25 == 0 and municipality in previous:
                # A semi-detached pair sold together: one sale on both addresses, as the real
                # data repeats a sale on every address of a building.
                self._shared_sale[number] = self._shared_sale[previous[municipality]] = f"shared-{number}"
            previous[municipality] = number

    def _villa(self, number: int, municipality: str, rng: random.Random, first_road: bool = False) -> Villa:
        code = MUNICIPALITY_CODES[municipality]
        zip_code = 1000 + code * 10 + rng.randrange(self.zips_per_municipality)
        stem = "Aa" if first_road else rng.choice(ROAD_STEMS)
        road = f"{stem}{rng.choice(ROAD_ENDINGS)}"
        self._next_number = max(self._next_number, number + 1)
        return Villa(number=number, address_id=str(uuid.uuid5(_NAMESPACE, f"{self.seed}:{number}")),
                     municipality=municipality, zip_code=zip_code, road_name=road,
                     house_number=rng.randrange(1, 400))

    def _add(self, villa: Villa) -> None:
        self._villas[villa.address_id] = villa
        self._by_number[villa.number] = villa
        bisect.insort(self._sorted.setdefault(villa.municipality, []), (villa.sort_key, villa.address_id))

    # -- changes while a crawl runs ---------------------------------------------------------------

    def insert(self, municipality: str, count: int, zip_codes: set[int] | None = None) -> list[str]:
        """Add `count` villas to `municipality` (in one of `zip_codes`, when given) on a road that
        sorts before every other; return their ids."""
        with self._lock:
            rng = random.Random(self.seed * 7919 + self._next_number)
            added = [self._villa(self._next_number + i, municipality, rng, first_road=True) for i in range(count)]
            for villa in added:
                if zip_codes:
                    villa.zip_code = rng.choice(sorted(zip_codes))
            for villa in added:
                self._add(villa)
            return [v.address_id for v in added]

    def remove(self, address_ids: list[str]) -> None:
        """Take villas out of the world (sold as something else, demolished): no longer listed, 404."""
        with self._lock:
            for address_id in address_ids:
                villa = self._villas.pop(address_id)
                del self._by_number[villa.number]
                self._sorted[villa.municipality].remove((villa.sort_key, address_id))

    def change(self, address_id: str) -> None:
        """A new version of the address: its valuation changes (and its case's price, if on the market)."""
        with self._lock:
            self._villas[address_id].version += 1

    # -- queries ----------------------------------------------------------------------------------

    def address_ids(self, municipality: str | None = None) -> list[str]:
        """Every address id (of one municipality), sorted."""
        with self._lock:
            return sorted(v.address_id for v in self._villas.values()
                          if municipality is None or v.municipality == municipality)

    def municipality_counts(self) -> dict[str, int]:
        """How many villas each municipality has."""
        with self._lock:
            return {name: len(rows) for name, rows in self._sorted.items()}

    def search(self, municipality: str, zip_codes: set[int] | None, ascending: bool) -> list[Villa]:
        """The villas of `municipality` (within `zip_codes` when given) in address order."""
        with self._lock:
            ordered = [self._villas[a] for _, a in self._sorted.get(municipality, [])]
        if zip_codes is not None:
            ordered = [v for v in ordered if v.zip_code in zip_codes]
        return ordered if ascending else ordered[::-1]

    def villa(self, address_id: str) -> Villa | None:
        with self._lock:
            return self._villas.get(address_id)

    def case_villa(self, case_id: str) -> Villa | None:
        """The villa whose open case is `case_id`."""
        number = _case_number(case_id)
        with self._lock:
            villa = self._by_number.get(number) if number is not None else None
        return villa if villa is not None and case_id_of(self, villa) == case_id else None

    def shared_sale(self, villa: Villa) -> str | None:
        """The id of the sale the villa shares with its semi-detached neighbour, if it has one."""
        return self._shared_sale.get(villa.number)

    def put_on_market(self, address_id: str) -> None:
        """List the villa for sale: its search summary gets a case; its address document does not change."""
        with self._lock:
            self._listed.add(self._villas[address_id].number)

    def on_market(self, villa: Villa) -> bool:
        return villa.number in self._listed or \
            random.Random(f"{self.seed}:market:{villa.number}").random() < self.on_market_share

    # -- documents --------------------------------------------------------------------------------

    def summary(self, villa: Villa) -> dict[str, Any]:
        """The villa as a search result lists it."""
        doc: dict[str, Any] = {
            "_links": {"self": {"href": f"/addresses/{villa.address_id}"}},
            "addressID": villa.address_id,
            "addressType": "villa",
            "houseNumber": str(villa.house_number),
            "isOnMarket": self.on_market(villa),
            "latestValuation": _valuation(self, villa),
            "municipality": {"municipalityCode": MUNICIPALITY_CODES[villa.municipality], "name": villa.municipality},
            "roadName": villa.road_name,
            "zipCode": villa.zip_code,
        }
        if doc["isOnMarket"]:
            doc["caseID"] = case_id_of(self, villa)
        return doc

    def address_document(self, villa: Villa) -> dict[str, Any]:
        """`GET /addresses/{id}`: keys and nesting as in `address_details.json`."""
        rng = random.Random(f"{self.seed}:address:{villa.number}")
        code = MUNICIPALITY_CODES[villa.municipality]
        city = f"{villa.municipality} {'ØVNS'[villa.zip_code % 4]}"
        gstkvhx = f"{code:04d}{villa.number % 10000:04d}__{villa.house_number}_______"
        slug = f"{_slug(villa.road_name)}-{villa.house_number}-{villa.zip_code}-{_slug(city)}"
        year = rng.randrange(1900, 2024)
        living = rng.randrange(70, 260)
        bfe = 100_000 + villa.number
        doc: dict[str, Any] = {
            "_links": {"self": {"href": f"/addresses/{villa.address_id}"}},
            "addressID": villa.address_id,
            "addressType": "villa",
            "allowNewValuationInfo": True,
            "bfeNumbers": [bfe],
            "boligsidenInfo": {"latestSoldArea": living},
            "buildings": [_building(rng, n, year, living) for n in range(1, rng.choice((2, 2, 3)))],
            "city": {"name": city, "slug": _slug(city)},
            "cityName": city,
            "coordinates": {"lat": round(55.0 + rng.random(), 6), "lon": round(11.5 + rng.random() * 1.2, 6),
                            "type": "EPSG4326"},
            "daysOnMarket": {"realtors": []},
            "energyLabel": rng.choice(LABELS),
            "entryAddressID": str(uuid.uuid5(_NAMESPACE, f"{self.seed}:entry:{villa.number}")),
            "gstkvhx": gstkvhx,
            "houseNumber": str(villa.house_number),
            "isPublic": True,
            "latestValuation": _valuation(self, villa),
            "livingArea": living,
            "municipality": {
                "churchTaxPercentage": 0.8, "councilTaxPercentage": 24.9, "landValueTaxLevelPerThousand": 7,
                "municipalityCode": code, "name": villa.municipality, "numberOfSchools": 20,
                "population": 50_000 + code * 100, "slug": _slug(villa.municipality),
            },
            "propertyNumber": villa.number,
            "province": {"name": "Københavns omegn", "provinceCode": "DK012", "regionCode": 1084,
                         "slug": "koebenhavns-omegn"},
            "registrations": _registrations(self, villa, rng, code, living),
            "road": {"municipalityCode": code, "name": villa.road_name, "roadCode": sum(map(ord, villa.road_name)),
                     "roadID": str(uuid.uuid5(_NAMESPACE, f"road:{code}:{villa.road_name}")),
                     "slug": _slug(villa.road_name)},
            "roadName": villa.road_name,
            "slug": f"{slug}-{gstkvhx}",
            "weightedArea": round(living * 1.07, 2),
            "zip": {"name": city, "slug": _slug(city), "zipCode": villa.zip_code},
            "zipCode": villa.zip_code,
        }
        return doc

    def case_document(self, villa: Villa) -> dict[str, Any]:
        """`GET /cases/{id}`: keys and nesting as in `case_example.json`."""
        rng = random.Random(f"{self.seed}:case:{villa.number}")
        address = self.address_document(villa)
        case_id = case_id_of(self, villa)
        price = _case_price(self, villa)
        realtor_id = str(uuid.uuid5(_NAMESPACE, f"realtor:{villa.number % 37}"))
        images = [{"imageSources": [{"alt": "Stue", "size": {"height": 80, "width": 100},
                                     "url": f"https://images.example/case/{case_id}/{n}.jpg"}]} for n in range(2)]
        days = 1 + rng.randrange(300)
        building = address["buildings"][0]
        address.update({"casePrice": price, "isOnMarket": True, "slugAddress": address["slug"].rsplit("-", 1)[0]})
        return {
            "_links": {"self": {"href": f"/cases/{case_id}"}},
            "address": dict(sorted(address.items())),
            "addressType": "villa",
            "basementArea": building.get("basementArea", 0),
            "caseID": case_id,
            "caseUrl": f"https://realtor.example/sag/{villa.number}",
            "coordinates": address["coordinates"],
            "daysOnMarket": days,
            "defaultImage": images[0],
            "descriptionBody": f"Velkommen til {villa.road_name} {villa.house_number}.",
            "descriptionTitle": f"Villa i {villa.municipality}",
            "distinction": "real_estate",
            "energyLabel": address["energyLabel"],
            "floorPlanImages": [{"imageSources": [{"size": {"height": 400, "width": 600},
                                                    "url": f"https://images.example/floor_plan/{case_id}.jpg"}]}],
            "hasBalcony": False,
            "hasElevator": False,
            "hasTerrace": rng.random() < 0.5,
            "highlighted": False,
            "housingArea": address["livingArea"],
            "images": images,
            "lotArea": rng.randrange(400, 1600),
            "monthlyExpense": rng.randrange(1500, 6000),
            "nextOpenHouse": {"date": "2026-12-06T10:00:00Z", "duration": 60, "signUp": False,
                              "signUpUrl": "https://realtor.example/aabent-hus"},
            "numberOfBathrooms": building["numberOfBathrooms"],
            "numberOfFloors": building["numberOfFloors"],
            "numberOfRooms": building["numberOfRooms"],
            "numberOfToilets": building["numberOfToilets"],
            "perAreaPrice": price // address["livingArea"],
            "priceCash": price,
            "priceChangePercentage": round(-2.5 * villa.version, 1),
            "providerCaseID": str(30_000_000 + villa.number),
            "realEstate": {"downPayment": price // 20, "grossMortgage": price // 180, "netMortgage": price // 230},
            "realtor": _realtor(realtor_id, villa),
            "slug": address["slug"],
            "slugAddress": address["slugAddress"],
            "status": "open",
            "timeOnMarket": {"current": {"days": days},
                             "total": {"days": days, "realtors": [{"days": days, "realtorId": realtor_id,
                                                                   "realtorName": "Fake Bolig"}]}},
            "utilitiesConnectionFee": {"includedInPrice": None},
            "weightedArea": address["weightedArea"],
            "yearBuilt": building["yearBuilt"],
        }


def case_id_of(world: PropertyWorld, villa: Villa) -> str:
    """The id of the villa's open case: its number is readable from the id's last group."""
    prefix = str(uuid.uuid5(_NAMESPACE, f"{world.seed}:case:{villa.number}"))[:24]
    return f"{prefix}{villa.number:012d}"


def _case_number(case_id: str) -> int | None:
    tail = case_id[-12:]
    return int(tail) if len(case_id) == 36 and tail.isdigit() else None


def _valuation(world: PropertyWorld, villa: Villa) -> int:
    base = random.Random(f"{world.seed}:valuation:{villa.number}").randrange(2_000, 12_000) * 1000
    return base + villa.version * 25_000


def _case_price(world: PropertyWorld, villa: Villa) -> int:
    return _valuation(world, villa) * 11 // 10 - villa.version * 50_000


def _building(rng: random.Random, number: int, year: int, living: int) -> dict[str, Any]:
    main = number == 1
    building: dict[str, Any] = {
        "buildingName": "Fritliggende enfamilieshus (parcelhus)" if main else "Garage",
        "buildingNumber": str(number),
        "externalWallMaterial": rng.choice(WALLS),
        "roofingMaterial": rng.choice(ROOFS),
        "totalArea": living if main else rng.randrange(15, 60),
        "yearBuilt": year,
    }
    if main:
        building.update({
            "basementArea": rng.choice((0, 0, 40, 80)), "bathroomCondition": "Badeværelse i enheden",
            "heatingInstallation": rng.choice(HEATING), "housingArea": living,
            "kitchenCondition": "Eget køkken med afløb", "numberOfBathrooms": rng.randrange(1, 3),
            "numberOfFloors": rng.randrange(1, 3), "numberOfRooms": rng.randrange(3, 8), "numberOfToilets": 2,
            "toiletCondition": "Vandskyllende toilet i enheden",
        })
    return building


def _registrations(world: PropertyWorld, villa: Villa, rng: random.Random, code: int,
                   living: int) -> list[dict[str, Any]]:
    rows = []
    for n in range(rng.randrange(1, 4)):
        amount = rng.randrange(800, 9000) * 1000
        rows.append({
            "amount": amount, "date": f"{2024 - n * 6 - rng.randrange(5)}-{rng.randrange(1, 13):02d}-15",
            "livingArea": living, "municipalityCode": code, "perAreaPrice": amount // living,
            "propertyNumber": villa.number,
            "registrationID": str(5_000_000 + villa.number * 10 + n), "type": "normal",
        })
    shared = world.shared_sale(villa)
    if shared is not None:
        rows.append({"amount": 4_000_000, "date": "2001-06-01", "area": living, "municipalityCode": code,
                     "propertyNumber": 0, "registrationID": shared, "type": "family"})
    return rows


def _realtor(realtor_id: str, villa: Villa) -> dict[str, Any]:
    score = {"basis": 30, "score": 8.5, "state": "valid"}
    question = {"scores": {"province": {"basis": 900, "score": 8.4}, "realtor": score}, "text": "Hvor tilfreds?"}
    sales = {"locationName": villa.municipality, "locationType": "municipality", "salesPercentage": 92.0}
    return {
        "_links": {"self": {"href": f"/realtors/{realtor_id}"}},
        "address": {"city": {"name": villa.municipality, "slug": _slug(villa.municipality)},
                    "municipality": {"municipalityCode": MUNICIPALITY_CODES[villa.municipality],
                                     "name": villa.municipality, "slug": _slug(villa.municipality)}},
        "associationOfDanishRealtorsMember": True,
        "associationOfEloMember": False,
        "broadcast": {"percentage": 90.0, "target": 80},
        "contactInformation": {"cityName": villa.municipality, "cvr": "12345678", "email": "salg@realtor.example",
                               "floor": "st", "houseNumber": "1", "phone": "12345678", "roadName": "Torvet",
                               "zipCode": villa.zip_code},
        "descriptionBody": "Lokal ejendomsmægler.",
        "image": {"imageSources": [{"size": {"height": 960, "width": 1440},
                                    "url": f"https://images.example/realtor/{realtor_id}.jpg"}]},
        "isNew": False,
        "name": "Fake Bolig",
        "numberOfEmployees": 8,
        "numberOfRealtors": 5,
        "preferred": True,
        "rating": {"buyer": score, "seller": score},
        "ratings": {"buyer": {"questions": [question]}, "seller": {"questions": [question]}},
        "realtorBranch": {"logo": {"imageSources": [{"size": {"height": 40, "width": 60},
                                                     "url": "https://images.example/branch.png"}]},
                          "name": "Fake", "realtorBranchID": str(uuid.uuid5(_NAMESPACE, "branch"))},
        "realtorID": realtor_id,
        "salesPercentages": {"all": [{"salesPercentage": 90.0}], "city": [sales], "municipality": [sales],
                             "province": [{**sales, "addressType": "villa"}], "zip_code": [sales]},
        "slug": f"fake-bolig-{realtor_id.replace('-', '')}",
        "url": f"https://realtor.example/{realtor_id}",
    }
