"""The CLI's contract: an unreachable server is one line on stderr and exit code 2; the fake API serves."""

import signal
import subprocess
import sys

import pytest
import requests

from import_pipeline.bench.properties import free_port
from import_pipeline.cli import dagster_storage_url, main
from import_pipeline.postgres.connect import redact, with_database


def test_unreachable_server_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", "postgresql://someone:secret@127.0.0.1:1/nowhere")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("import-pipeline: cannot reach PostgreSQL at postgresql://someone:***@127.0.0.1:1/nowhere")
    assert len(err.splitlines()) == 1 and "secret" not in err


def test_unreachable_server_from_the_console_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "import_pipeline.cli", "bench", "copy", "--rows", "10"],
        env={"IMPORT_PIPELINE_DATABASE_URL": "postgresql://127.0.0.1:1/x", "PATH": ""},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_migrate_reports_what_it_applied(monkeypatch: pytest.MonkeyPatch, capsys, empty_database_url: str) -> None:
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", empty_database_url)
    assert main(["migrate"]) == 0
    assert "001_engine.sql" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "applied 0 migration(s)" in capsys.readouterr().out


def test_urls() -> None:
    assert redact("postgresql://u:p@h:5/d") == "postgresql://u:***@h:5/d"
    assert with_database("postgresql://postgres:@/postgres?host=/tmp/x", "dagster") == "postgresql://postgres:@/dagster?host=/tmp/x"
    assert "dbname=dagster" in with_database("host=h dbname=a", "dagster")
    assert dagster_storage_url("postgresql://u@h/d") == "postgresql+psycopg2://u@h/d"


@pytest.mark.parametrize("url, says", [
    ("postgresql://someone@127.0.0.1:1/nowhere", "Connection refused"),
    ("postgresql://someone@127.0.0.1:notaport/x", 'invalid integer value "notaport"'),
    ("nonsense", "is not a PostgreSQL URL or connection string"),
])
def test_the_reason_is_kept_on_one_line(monkeypatch: pytest.MonkeyPatch, capsys, url: str, says: str) -> None:
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", url)
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\t" not in err and says in err


def test_the_fake_property_api_serves_until_sigterm() -> None:
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "import_pipeline.cli", "fake-property-api", "--port", str(port),
                              "--addresses", "500", "--big-count", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert f"http://127.0.0.1:{port}" in child.stdout.readline()  # printed once it listens
        page = requests.get(f"http://127.0.0.1:{port}/search/addresses", timeout=10, params={
            "municipalities": "København", "addressTypes": "villa", "per_page": 5, "page": 1}).json()
        assert page["totalHits"] > 5 and len(page["addresses"]) == 5
    finally:
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=30) == 0
