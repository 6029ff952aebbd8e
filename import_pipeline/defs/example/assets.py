"""Three assets covering the IO manager's write modes: merge, partition replace, whole replace."""

import datetime as dt
import math
from collections import defaultdict

import dagster as dg
import pandas as pd

from import_pipeline.defs.example.partitions import regions
from import_pipeline.defs.ownership import OWNERS
from import_pipeline.postgres.tables import TableRef, iter_rows
from import_pipeline.records import RowStream
from import_pipeline.resources import PostgresResource

STATIONS = [
    ("N1", "Skagen Fyr", "north", 12),
    ("N2", "Hirtshals", "north", 8),
    ("S1", "Gedser", "south", 2),
    ("S2", "Rødby Havn", "south", None),
    ("E1", "Hammer Odde", "east", 51),
    ("E2", "Christiansø", "east", 20),
]
HOURS = 48
START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dg.asset(
    key_prefix="example",
    group_name="example",
    kinds={"postgres", "pandas"},
    owners=OWNERS,
    metadata={"write_mode": "merge", "merge_key": ["station_id"]},
)
def stations() -> pd.DataFrame:
    """Weather stations, upserted on station_id."""
    return pd.DataFrame.from_records(STATIONS, columns=["station_id", "name", "region", "elevation_m"]).astype(
        {"elevation_m": "Int64"}
    )


@dg.asset(
    key_prefix="example",
    group_name="example",
    kinds={"postgres", "python"},
    owners=OWNERS,
    partitions_def=regions,
    metadata={"write_mode": "replace", "partition_column": "region"},
)
def readings(context: dg.AssetExecutionContext, stations: pd.DataFrame) -> RowStream:
    """Hourly temperatures of one region's stations, streamed; the region's rows are replaced."""
    region = context.partition_key
    ids = sorted(stations.loc[stations["region"] == region, "station_id"])

    def rows():
        for n, station_id in enumerate(ids):
            for hour in range(HOURS):
                temperature = round(4 + 3 * math.sin((hour + 5 * n) / 24 * 2 * math.pi), 2)
                yield station_id, START + dt.timedelta(hours=hour), temperature

    return RowStream(
        columns=["station_id", "observed_at", "temperature_c"],
        rows=rows(),
        types=["text", "timestamptz", "float8"],
    )


@dg.asset(key_prefix="example", group_name="example", kinds={"postgres", "pandas"}, owners=OWNERS)
def station_summary(postgres: PostgresResource, readings: TableRef) -> pd.DataFrame:
    """Per-station count, mean, min and max, read lazily from all readings partitions."""
    stats: dict[str, list[float]] = defaultdict(list)
    with postgres.connection() as conn:
        for station_id, temperature in iter_rows(conn, readings, ["station_id", "temperature_c"]):
            stats[station_id].append(temperature)
    return pd.DataFrame.from_records(
        [(s, len(v), sum(v) / len(v), min(v), max(v)) for s, v in sorted(stats.items())],
        columns=["station_id", "readings", "mean_c", "min_c", "max_c"],
    )


stations_job = dg.define_asset_job(
    "example_stations_job",
    selection=dg.AssetSelection.assets(stations, station_summary),
    description="The unpartitioned example assets: stations, and the summary of all readings",
)
readings_job = dg.define_asset_job(
    "example_readings_job",
    selection=dg.AssetSelection.assets(readings),
    description="One region's readings",
)
