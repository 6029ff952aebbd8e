"""The dump generator: deterministic, shaped like the real dump, and readable by the dump reader."""

import json
import statistics
from pathlib import Path

from import_pipeline.cli import main
from import_pipeline.generate.gamedata import ITEM_DBTYPE, NANO_DBTYPE, generate
from import_pipeline.sources.gamedata.dump import DumpRecord, read_dump


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a, _ = generate(tmp_path / "a", items=300, nanos=10, seed=7)
    b, _ = generate(tmp_path / "b", items=300, nanos=10, seed=7)
    c, _ = generate(tmp_path / "c", items=300, nanos=10, seed=8)
    assert a.path.read_bytes() == b.path.read_bytes() != c.path.read_bytes()


def test_distributions_match_the_real_dump(tmp_path: Path) -> None:
    items_dump, nanos_dump = generate(tmp_path, items=3000, nanos=300, seed=1)
    items = json.loads(items_dump.path.read_text(encoding="utf-8"))
    nanos = json.loads(nanos_dump.path.read_text(encoding="utf-8"))
    assert len(items) == items_dump.records == 3000 and len(nanos) == 300

    stat_counts = [len(i["StatValues"]) for i in items]
    assert min(stat_counts) >= 6 and max(stat_counts) <= 17 and 12 <= statistics.mean(stat_counts) <= 14.5
    repeats = sum(len({s["Stat"] for s in i["StatValues"]}) < len(i["StatValues"]) for i in items) / len(items)
    assert 0.02 < repeats < 0.12
    assert 0.75 < sum(bool(i["ActionData"]) for i in items) / len(items) < 0.85
    assert 0.83 < sum(bool(i["SpellData"]) for i in items) / len(items) < 0.93
    assert all(1 <= len(a["Criteria"]) <= 14 for i in items if i["ActionData"] for a in i["ActionData"]["Actions"])
    assert all(1 <= len(sd["Items"]) <= 27 for i in items for sd in i["SpellData"])
    weapons = [i for i in items if i["AttackDefenseData"]]
    assert weapons and all(w["AnimationMesh"] for w in weapons)
    assert 2000 <= items_dump.bytes / items_dump.records <= 3200
    assert all(i["DBType"] == ITEM_DBTYPE for i in items) and all(n["DBType"] == NANO_DBTYPE for n in nanos)

    assert all(24 <= len(n["StatValues"]) <= 28 for n in nanos)
    assert all(7 <= len(n["ActionData"]["Actions"][0]["Criteria"]) <= 11 for n in nanos)
    assert all(1 <= len(sd["Items"]) <= 13 for n in nanos for sd in n["SpellData"])
    assert {i["AOID"] for i in items} & {n["AOID"] for n in nanos}, "items and nanos share AOIDs, as in the real dumps"


def test_generated_dump_reads_back_without_rejects(tmp_path: Path) -> None:
    items_dump, _ = generate(tmp_path, items=500, nanos=5, seed=3)
    out = list(read_dump(items_dump.path))
    assert len(out) == 500 and all(isinstance(r, DumpRecord) for r in out)


def test_cli_writes_both_files(tmp_path: Path, capsys) -> None:
    assert main(["generate", "gamedata", "--items", "20", "--nanos", "3", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "items.json: 20 records" in printed and "nanos.json: 3 records" in printed
