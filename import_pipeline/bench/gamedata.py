"""`import-pipeline bench gamedata`: the item dump import, clean and again, next to a raw COPY.

In one process, against a scratch database (`import_pipeline_bench`, created for the run
and dropped after it):

1. clean import of a generated dump of N items (an initial load: secondary indexes and
   foreign keys dropped, rebuilt afterwards and timed apart);
2. re-import of the same dump (nothing changed);
3. re-import of the dump with 1% of the items changed;
4. raw COPY: the final rows of every table, exported in binary, COPYed into unindexed
   copies of the tables: the server's speed for exactly these rows;
5. a nanos dump imported after the items (not an initial load: indexes and foreign keys
   in force), then a raw COPY of exactly the rows it added.

Peak memory is reported for this process and for the parsing child process. The last line,
`result: clean_ratio=... same_ratio=... changed_ratio=... nanos_ratio=... peak_rss_mb=...`,
gives each import's items/s over its raw COPY's, and the larger peak RSS.
"""

from __future__ import annotations

import itertools
import os
import resource
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from import_pipeline.bench.report import child_peak_rss_mb, peak_rss_mb, scratch_database
from import_pipeline.generate.gamedata import changed, expected_row_counts, records, write_dump
from import_pipeline.load.gamedata.dump import SCHEMA, DumpImport, import_dump
from import_pipeline.postgres.ids import next_free_id
from import_pipeline.postgres.scalar import fetch_value
from import_pipeline.postgres.tables import create_schema, drop_schema
from import_pipeline.sources.gamedata.normalize import COLUMNS

RAW_SCHEMA = "bench_raw"
CHANGED_FRACTION = 0.01
#: For the nanos' raw COPY: the column that says which rows a later import added, and the
#: table whose ids it holds (ids only grow, so rows at or past the ids free before are new).
ADDED_BY = {
    "stat_values": ("id", "stat_values"), "criteria": ("id", "criteria"), "shop_hash": ("id", "shop_hash"),
    "attack_defense": ("id", "attack_defense"),
    "attack_defense_attack": ("attack_defense_id", "attack_defense"),
    "attack_defense_defense": ("attack_defense_id", "attack_defense"),
    "animation_mesh": ("id", "animation_mesh"), "items": ("id", "items"),
    "item_stats": ("item_id", "items"), "item_shop_hash": ("item_id", "items"),
    "actions": ("id", "actions"), "action_criteria": ("action_id", "actions"),
    "spell_data": ("id", "spell_data"), "item_spell_data": ("item_id", "items"),
    "spells": ("id", "spells"), "spell_data_spells": ("spell_data_id", "spell_data"),
    "spell_criteria": ("spell_id", "spells"),
}


def _cpu_seconds(backend_pid: int) -> tuple[float, float, float | None]:
    """CPU seconds used so far by this process, its (finished) children, and the server
    backend serving `backend_pid` when the server runs on this machine (else None)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    backend = None
    try:
        fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        backend = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        pass
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, backend


def _print_import(label: str, result: DumpImport, wall: float) -> None:
    write_seconds = _write_seconds(result)
    rebuild = result.seconds.get("index_rebuild", 0.0) + result.seconds.get("analyze", 0.0)
    rows = sum(result.rows_written.values())
    print(f"\n{label}: {result.records:,} items ({result.items_new:,} new, {result.items_changed:,} changed, "
          f"{result.items_unchanged:,} unchanged, {result.items_removed:,} removed, {len(result.rejects)} rejected)")
    print(f"  parse + write   {write_seconds:7.2f} s  {result.records / write_seconds:>9,.0f} items/s"
          f"  {rows / write_seconds:>11,.0f} rows/s ({rows:,} rows)")
    if rebuild:
        print(f"  index rebuild   {result.seconds['index_rebuild']:7.2f} s   analyze {result.seconds['analyze']:.2f} s")
    print(f"  total           {wall:7.2f} s  {result.records / wall:>9,.0f} items/s")
    phases = ", ".join(f"{name} {value:.2f}" for name, value in result.seconds.items())
    print(f"  phases (s): {phases}")
    if result.rows_written:
        print(f"  {'table':<24} {'rows':>11} {'copy s':>8} {'rows/s':>11}")
        for table, count in result.rows_written.items():
            seconds = result.table_seconds.get(table, 0.0)
            rate = f"{count / seconds:>11,.0f}" if seconds else f"{'-':>11}"
            print(f"  {table:<24} {count:>11,} {seconds:>8.2f} {rate}")


def _raw_copy(url: str, scratch: Path, first_ids: dict[str, int] | None = None
              ) -> tuple[int, float, dict[str, tuple[int, float]]]:
    """Export every table's rows in binary (with `first_ids`, only the rows added since those
    were the tables' free ids, see `ADDED_BY`), then time COPYing them into unindexed copies."""
    per_table: dict[str, tuple[int, float]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        create_schema(conn, RAW_SCHEMA, replace=True)
        files = {}
        # Same columns, storage and compression (lz4 for documents), no indexes or constraints.
        like = "INCLUDING STORAGE INCLUDING COMPRESSION" if conn.info.server_version >= 140000 else "INCLUDING STORAGE"
        for table in COLUMNS:
            target = sql.Identifier(RAW_SCHEMA, table)
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} {})").format(
                target, sql.Identifier(SCHEMA, table), sql.SQL(like)))
            path = scratch / f"{table}.copy"
            rows = sql.SQL("{}").format(sql.Identifier(SCHEMA, table))
            if first_ids is not None:
                column, owner = ADDED_BY[table]
                rows = sql.SQL("(SELECT * FROM {} WHERE {} >= {})").format(
                    sql.Identifier(SCHEMA, table), sql.Identifier(column), sql.Literal(first_ids[owner]))
            with path.open("wb") as out, conn.cursor().copy(
                sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(rows)
            ) as copy:
                for chunk in copy:
                    out.write(chunk)
            files[table] = path
        total_rows, started = 0, time.perf_counter()
        with conn.transaction():
            for table, path in files.items():
                table_started = time.perf_counter()
                with path.open("rb") as source, conn.cursor().copy(
                    sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(RAW_SCHEMA, table))
                ) as copy:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                count = fetch_value(conn, sql.SQL("SELECT count(*) FROM {}").format(
                    sql.Identifier(RAW_SCHEMA, table)))
                per_table[table] = (count, time.perf_counter() - table_started)
                total_rows += count
        seconds = time.perf_counter() - started
        drop_schema(conn, RAW_SCHEMA)
    return total_rows, seconds, per_table


def run(server_url: str, items: int, nanos: int | None = None, seed: int = 1) -> None:
    """Generate the dumps, run the five measurements and print them (nanos: a tenth of `items`
    by default)."""
    nanos = items // 10 if nanos is None else nanos
    with tempfile.TemporaryDirectory(prefix="bench-gamedata-") as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"generating {items:,} items (seed {seed}), a copy with {CHANGED_FRACTION:.0%} changed "
              f"and {nanos:,} nanos ...")
        dump = write_dump(scratch / "items.json", records(items, nano=False, seed=seed))
        changed_dump = write_dump(scratch / "items_changed.json",
                                  changed(records(items, nano=False, seed=seed), CHANGED_FRACTION, seed))
        nanos_dump = write_dump(scratch / "nanos.json", records(nanos, nano=True, seed=seed))
        print(f"  {dump.path.name}: {dump.bytes / 1e6:,.1f} MB; "
              f"{changed_dump.path.name}: {changed_dump.bytes / 1e6:,.1f} MB; "
              f"{nanos_dump.path.name}: {nanos_dump.bytes / 1e6:,.1f} MB")
        with scratch_database(server_url) as url:
            result = _measure(url, dump.path, changed_dump.path, nanos_dump.path, scratch, items)
            _check_counts(url, items, nanos, seed)
    print(result)


def _check_counts(url: str, items: int, nanos: int, seed: int) -> None:
    """Hold the final tables (the clean items dump, then the nanos) to row counts computed from
    the generated documents by `expected_row_counts`, not by the importer; raise on a difference."""
    # Both kinds' documents in one pass: their owned rows add up, their interned keys are shared.
    expected = expected_row_counts(itertools.chain(records(items, nano=False, seed=seed),
                                                   records(nanos, nano=True, seed=seed)))
    with psycopg.connect(url) as conn:
        stored = {table: fetch_value(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(SCHEMA, table)))
                  for table in COLUMNS}
    wrong = {table: (stored[table], expected[table]) for table in COLUMNS if stored[table] != expected[table]}
    if wrong:
        raise RuntimeError(f"table contents differ from the documents (stored, expected): {wrong}")
    print(f"\nchecked: the row counts of all {len(COLUMNS)} tables equal a count of the documents "
          f"({sum(stored.values()):,} rows)")


def _write_seconds(result: DumpImport) -> float:
    """The one pass over the file, from the first byte to the commit (no index rebuild)."""
    return result.seconds["stream"] + result.seconds["cleanup"] + result.seconds["commit"]


def _import(conn: psycopg.Connection, label: str, path: Path, kind: str) -> DumpImport:
    backend_pid = conn.info.backend_pid
    cpu_before = _cpu_seconds(backend_pid)
    started = time.perf_counter()
    result = import_dump(conn, path, kind)
    _print_import(label, result, time.perf_counter() - started)
    cpu_after = _cpu_seconds(backend_pid)
    own, child = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    backend_after, backend_before = cpu_after[2], cpu_before[2]
    server = (f", server backend {backend_after - backend_before:.1f} s (index builds run partly in "
              f"parallel workers, not counted)" if backend_after is not None and backend_before is not None
              else "")
    print(f"  CPU: parsing child {child:.1f} s, this process {own:.1f} s{server}")
    return result


def _print_raw(label: str, rows: int, seconds: float, items: int, per_table: dict[str, tuple[int, float]]) -> None:
    print(f"\n{label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s, {items / seconds:,.0f} items/s")
    for table, (count, table_seconds) in per_table.items():
        rate = count / table_seconds if table_seconds else 0
        print(f"  {table:<24} {count:>11,} {table_seconds:>8.2f} {rate:>11,.0f}")


def _measure(url: str, dump: Path, changed_dump: Path, nanos_dump: Path, scratch: Path, items: int) -> str:
    """Run and print the five measurements; return the `result:` line."""
    with psycopg.connect(url) as conn:
        clean = _import(conn, "clean import", dump, "items")
        same = _import(conn, "re-import, same dump", dump, "items")
        edited = _import(conn, f"re-import, {CHANGED_FRACTION:.0%} changed", changed_dump, "items")
        # Back to the clean dump's rows for the raw baseline.
        import_dump(conn, dump, "items")
    rows, seconds, per_table = _raw_copy(url, scratch)
    _print_raw("raw COPY of the final rows into unindexed tables", rows, seconds, items, per_table)

    with psycopg.connect(url) as conn:
        first_ids = {owner: next_free_id(conn, f"{SCHEMA}.{owner}") for _, owner in ADDED_BY.values()}
        nanos = _import(conn, "nanos after the items (indexes and foreign keys in force)", nanos_dump, "nanos")
        expected = fetch_value(conn, "SELECT count(*) FROM gamedata.items WHERE is_nano")
    if expected != nanos.records or nanos.initial_load:
        raise RuntimeError(f"nanos import: {expected} stored for {nanos.records} read, "
                           f"initial load {nanos.initial_load}")
    nano_rows, nano_seconds, nano_tables = _raw_copy(url, scratch, first_ids)
    _print_raw("raw COPY of the rows the nanos added", nano_rows, nano_seconds, nanos.records, nano_tables)

    own_rss, child_rss = peak_rss_mb(), child_peak_rss_mb()
    print(f"\npeak RSS: this process {own_rss:,.0f} MiB, parsing child {child_rss:,.0f} MiB")
    # Each ratio: the import's items/s over the raw COPY's items/s for the same rows.
    return (f"result: clean_ratio={seconds / _write_seconds(clean):.2f} "
            f"same_ratio={seconds / _write_seconds(same):.2f} changed_ratio={seconds / _write_seconds(edited):.2f} "
            f"nanos_ratio={nano_seconds / _write_seconds(nanos):.2f} peak_rss_mb={max(own_rss, child_rss):.0f}")
