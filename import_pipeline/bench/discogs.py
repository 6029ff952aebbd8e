"""`import-pipeline bench discogs --releases N`: a first load and next month's re-load of a releases dump.

Generated dumps (`generate/discogs.py`, the same seed for both months; next month has 1% of
the releases changed, 0.5% gone and 0.5% new) are imported into a scratch database
(`import_pipeline_bench`) exactly as the `discogs/releases` asset imports them: through
`PostgresBulkIOManager.handle_output` with the asset's own metadata. Then the graph is
derived as `discogs/release_graph` derives it. Printed for each load: records/s, MB/s of the
compressed dump, seconds of parsing alone (the child's pass over the file, timed apart),
of the load (parse and write overlapped), of the index rebuild and of the graph; peak RSS of
this process and of the parsing child; next to a raw COPY of the same `(data_id, hash, data)`
documents into a table with only its primary key. The last line is
`result: first_load_ratio=... reload_speedup=... peak_rss_mb=...`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from import_pipeline.bench.report import child_peak_rss_mb, peak_rss_mb, raw_copy_seconds, scratch_database
from import_pipeline.defs.discogs.assets import releases
from import_pipeline.generate.discogs import generate
from import_pipeline.io_manager import PostgresBulkIOManager
from import_pipeline.load.discogs.documents import document_stream
from import_pipeline.load.discogs.graph import derive_graph
from import_pipeline.parallel import iterate_in_process
from import_pipeline.postgres.tables import table_is_empty
from import_pipeline.resources import PostgresResource


def parse_seconds(path: Path, convert: bool) -> float:
    """The parsing child's pass over `path` alone, its rows discarded."""
    started = time.perf_counter()
    kwargs = {"path": str(path), "dump_type": "releases", "dump_date": "2026-11-01", "convert": convert}
    for _ in iterate_in_process("import_pipeline.sources.discogs.batches:row_batches", kwargs):
        pass
    return time.perf_counter() - started


def load(url: str, path: Path, date: dt.date) -> dict[str, Any]:
    """Import the releases dump at `path` as the asset does; return its metadata and timings."""
    io_manager = PostgresBulkIOManager(postgres=PostgresResource(url=url, apply_migrations=False))
    metadata = releases.specs_by_key[dg.AssetKey(["discogs", "releases"])].metadata
    with psycopg.connect(url) as conn:
        first = table_is_empty(conn, "discogs.releases")
    stream = document_stream(path, "releases", date, convert_in_child=first, delete_absent=0.1)
    context = dg.build_output_context(asset_key=dg.AssetKey(["discogs", "releases"]), definition_metadata=metadata)
    started = time.perf_counter()
    io_manager.handle_output(context, stream)
    seconds = time.perf_counter() - started
    logged = {k: getattr(v, "value", v) for k, v in context.get_logged_metadata().items()}
    with psycopg.connect(url) as conn:
        graph = derive_graph(conn, "releases")
    rebuild = float(logged.get("index_rebuild_seconds") or 0.0)  # type: ignore[arg-type]
    return {**logged, "load_seconds": seconds - rebuild, "rebuild_seconds": rebuild,
            "graph_seconds": graph.seconds, "graph_rows": sum(graph.rows.values()),
            "parse_seconds": parse_seconds(path, first), "first": first}


def run(server_url: str, *, releases_count: int, seed: int = 1) -> None:
    """Run the benchmark and print its table and `result:` line."""
    with tempfile.TemporaryDirectory() as scratch, scratch_database(server_url) as url:
        folder = Path(scratch)
        started = time.perf_counter()
        [first_dump] = generate(folder, releases=releases_count, seed=seed, types=("releases",))
        [next_dump] = generate(folder, releases=releases_count, seed=seed, month=1, changed=0.01, types=("releases",))
        print(f"generated {first_dump.records:,} + {next_dump.records:,} releases "
              f"({first_dump.bytes / 1e6:,.0f} + {next_dump.bytes / 1e6:,.0f} MB gzip) in "
              f"{time.perf_counter() - started:.0f} s")
        first = load(url, first_dump.path, dt.date(2026, 11, 1))
        raw = raw_copy_seconds(
            url, create="CREATE TABLE raw_releases (data_id text PRIMARY KEY, hash text NOT NULL, data jsonb NOT NULL)",
            target="raw_releases", source="(SELECT data_id, hash, data FROM discogs.releases)")
        second = load(url, next_dump.path, dt.date(2026, 12, 1))
    rows = []
    for label, result, dump in (("first load", first, first_dump), ("next month", second, next_dump)):
        rate = dump.records / result["load_seconds"]
        rows.append((label, dump.records, result["load_seconds"], rate, dump.bytes / 1e6 / result["load_seconds"]))
        print(f"{label}: {result.get('rows_inserted', 0):,} inserted, {result.get('rows_updated', 0):,} updated, "
              f"{result.get('rows_unchanged', 0):,} unchanged, {result.get('rows_deleted', 0):,} deleted; "
              f"parse alone {result['parse_seconds']:.1f} s, load {result['load_seconds']:.1f} s, index rebuild "
              f"{result['rebuild_seconds']:.1f} s, graph {result['graph_seconds']:.1f} s "
              f"({result['graph_rows']:,} relation rows)")
    raw_rate = first_dump.records / raw
    print(f"{'measurement':<40} {'records':>10} {'seconds':>9} {'records/s':>10} {'MB/s':>7} {'vs raw':>7}")
    for label, records, seconds, rate, mb in rows:
        print(f"{label + ' (parse + write)':<40} {records:>10,} {seconds:>9.2f} {rate:>10,.0f} {mb:>7.1f} "
              f"{rate / raw_rate:>6.2f}x")
    print(f"{'raw COPY of the documents, PK only':<40} {first_dump.records:>10,} {raw:>9.2f} {raw_rate:>10,.0f}")
    first_rate, next_rate = rows[0][3], rows[1][3]
    peak = max(peak_rss_mb(), child_peak_rss_mb())
    print(f"peak RSS: this process {peak_rss_mb():,.0f} MiB, parsing child {child_peak_rss_mb():,.0f} MiB")
    print(f"result: first_load_ratio={first_rate / raw_rate:.2f} reload_speedup={next_rate / first_rate:.2f} "
          f"peak_rss_mb={peak:.0f} first_load_records_per_s={first_rate:.0f} reload_records_per_s={next_rate:.0f}")
