"""The municipalities a crawl covers: the 40 around Copenhagen (`municipalities_within_60km.json`).

The list is a copy of `shared/data/properties/municipalities_within_60km.json`, kept as it is;
note that, despite its name, four of its entries lie 63-80 km away (Faxe, Odsherred,
Næstved, Vordingborg).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Municipality:
    """One municipality of the list: its name (the API's `municipalities` filter and the
    partition key), position, distance from Copenhagen City Hall and sampled property count."""

    name: str
    latitude: float
    longitude: float
    distance_km: float
    properties_sampled: int


@cache
def municipalities() -> tuple[Municipality, ...]:
    """The municipalities of the list, in its order (largest sample first)."""
    text = resources.files(__package__).joinpath("municipalities_within_60km.json").read_text(encoding="utf-8")
    return tuple(
        Municipality(name=m["name"], latitude=m["latitude"], longitude=m["longitude"],
                     distance_km=m["distance_to_copenhagen_km"], properties_sampled=m["properties_sampled"])
        for m in json.loads(text)["municipalities_within_60km"]
    )


def municipality_names() -> list[str]:
    """The names of the municipalities, in the list's order."""
    return [m.name for m in municipalities()]
