"""The README's headline command: `import-pipeline demo` runs the code location's jobs on sample data."""

from pathlib import Path

import psycopg
import pytest

from import_pipeline.cli import main


def test_demo_runs_every_job_and_again_without_changes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path
) -> None:
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", database_url)
    monkeypatch.setenv("IMPORT_PIPELINE_HOME", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    for variable in ("IMPORT_PIPELINE_GAMEDATA_DIR", "IMPORT_PIPELINE_DATASETS_DIR"):
        monkeypatch.setenv(variable, "set by the demo")  # restored afterwards
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    for line in ("example/station_summary: 6 rows written", "gamedata/items [items]: 3000 rows written",
                 "gamedata/items [nanos]: 600 rows written", "gamedata/symbiants: 120 rows written",
                 "datasets/commits [demo_sales.csv]: 5000 rows written", "datasets/dataset_search: 1 rows written"):
        assert line in printed
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM gamedata.items").fetchone()[0] == 3600
    assert main(["demo"]) == 0  # a second demo finds everything in place
    assert "gamedata/items [items]: 0 rows written" in capsys.readouterr().out
