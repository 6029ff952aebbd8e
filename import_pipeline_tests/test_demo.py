"""The README's headline command: `import-pipeline demo` runs every family's jobs on sample data."""

from pathlib import Path

import dagster as dg
import psycopg
import pytest

from import_pipeline.cli import main

FAMILIES = ("example", "gamedata", "datasets", "discogs", "skype", "properties")


def summary_lines(printed: str) -> dict[str, list[str]]:
    """The summary table's rows by family: parts, rows, changed, rewritten, rejects, checks, ..."""
    return {line.split()[0]: line.split()[1:] for line in printed.splitlines()
            if line.split() and line.split()[0] in FAMILIES}


def test_demo_runs_every_family_and_again_without_changes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", database_url)
    monkeypatch.setenv("IMPORT_PIPELINE_HOME", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for family in ("GAMEDATA", "DATASETS", "DISCOGS", "SKYPE"):
        monkeypatch.setenv(f"IMPORT_PIPELINE_{family}_DIR", "set by the demo")  # restored afterwards
    monkeypatch.setenv("IMPORT_PIPELINE_PROPERTY_API_URL", "set by the demo")
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    first = summary_lines(printed)
    assert set(first) == set(FAMILIES)
    for family, (_parts, rows, _changed, _rewritten, rejects, checks, *_) in first.items():
        assert int(rows.replace(",", "")) > 0 and rejects == "0", (family, first[family])
        passed, total = checks.rstrip("*").split("/")
        assert passed == total or checks.endswith("*"), (family, checks)
    assert first["gamedata"][2] == "3,600" and first["skype"][2] != "0"
    assert "import-pipeline up" in printed and (tmp_path / "dagster" / "dagster.yaml").exists()
    with psycopg.connect(database_url) as conn:
        counts = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in (  # noqa: S608
            "gamedata.items", "datasets.commits", "discogs.releases", "skype.messages", "properties.properties")}
    assert counts["gamedata.items"] == 3600 and all(counts.values()), counts
    instance = dg.DagsterInstance.get()  # the demo's (DAGSTER_HOME under IMPORT_PIPELINE_HOME)
    without_catalog = []
    for asset_key in instance.get_asset_keys():
        event = instance.get_latest_materialization_event(asset_key)
        materialization = event.asset_materialization if event else None
        if materialization is None or asset_key.path[1].endswith("_graph"):  # a graph writes several tables
            continue
        if not {"dagster/table_name", "dagster/row_count", "dagster/column_schema"} <= set(materialization.metadata):
            without_catalog.append(asset_key.to_user_string())
    assert without_catalog == []
    assert main(["demo"]) == 0  # a second demo finds everything in place
    again = capsys.readouterr().out
    assert all(changed == "0" for _, _, changed, *_ in summary_lines(again).values()), summary_lines(again)
    assert "Nothing changed" in again
