"""The datasets upload endpoint, served by uvicorn on 127.0.0.1 and called over real HTTP."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import requests
import uvicorn

from import_pipeline.defs.datasets.assets import commits, import_job, staged_rows
from import_pipeline.defs.datasets.partitions import dataset_files
from import_pipeline.defs.datasets.resources import DATA_SUFFIXES, DatasetFiles
from import_pipeline.defs.datasets.sensors import datasets_landing_sensor
from import_pipeline.load.datasets.commit import commit_import
from import_pipeline.load.datasets.staging import stage_file
from import_pipeline.resources import PostgresResource
from import_pipeline.uploads.app import UploadSettings, create_app
from import_pipeline.uploads.receiving import PART_PREFIX, UploadRefused, sanitized_name, sweep_abandoned
from import_pipeline.uploads.serve import UploadServerRefused, upload_settings_from_environment
from import_pipeline_tests.conftest import run_at_once
from import_pipeline_tests.test_datasets import imported

MiB = 1024 * 1024


@contextmanager
def serving(settings: UploadSettings) -> Iterator[str]:
    """The app served by uvicorn on a free port of 127.0.0.1, in a thread; yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as test_instance:
        yield test_instance


def settings_for(landing: Path, instance: dg.DagsterInstance, **changes: Any) -> UploadSettings:
    values: dict[str, Any] = {"folder": landing, "suffixes": DATA_SUFFIXES, "max_bytes": 10 * MiB, "token": None,
                              "instance": lambda: instance, **changes}
    return UploadSettings(**values)


def left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def csv_text(rows: int, start: int = 0) -> str:
    return "n,word\n" + "".join(f"{n},w{n * 7919 % 10007}\n" for n in range(start, start + rows))


def test_an_uploaded_csv_becomes_a_run_and_a_dataset_equal_to_the_file(
        landing: Path, instance: dg.DagsterInstance, database_url: str) -> None:
    text = csv_text(3000)
    with serving(settings_for(landing, instance)) as url:
        answer = requests.post(f"{url}/import", files={"file": ("sales 2026.csv", text.encode())},
                               data={"dataset": "sales", "description": "Quarterly sales", "has_header": "true"})
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["partition_key"] == "sales 2026.csv" and body["bytes"] == len(text)
        assert body["sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert (body["status"], body["run_id"]) == ("WAITING_FOR_SENSOR", None)
        assert left_in(landing) == ["sales 2026.csv", "sales 2026.csv.json"]

        folder = DatasetFiles(landing_dir=str(landing))
        first = datasets_landing_sensor(dg.build_sensor_context(instance=instance,
                                                                resources={"dataset_files_folder": folder}))
        second = datasets_landing_sensor(dg.build_sensor_context(instance=instance, cursor=first.cursor,
                                                                 resources={"dataset_files_folder": folder}))
        assert isinstance(second, dg.SensorResult) and [r.partition_key for r in second.run_requests] == \
            ["sales 2026.csv"]
        instance.add_dynamic_partitions(dataset_files.name, ["sales 2026.csv"])
        job = dg.Definitions(assets=[staged_rows, commits], jobs=[import_job], resources={
            "postgres": PostgresResource(url=database_url), "dataset_files_folder": folder}).resolve_job_def(
            import_job.name)
        request = second.run_requests[0]
        run = job.execute_in_process(partition_key=request.partition_key, instance=instance,
                                     tags={**request.tags, "dagster/run_key": request.run_key})
        assert run.success

        status = requests.get(f"{url}/import/sales 2026.csv").json()
        assert (status["status"], status["run_id"]) == ("SUCCESS", run.run_id)
        assert status["run_url"].endswith(f"/runs/{run.run_id}")
        assert status["counts"]["rows"] == 3000 and status["counts"]["rows_rejected"] == 0
        assert status["counts"]["new_unique_rows"] == 3000 and status["counts"]["commit_id"]
        assert requests.get(f"{url}/import/other.csv").status_code == 404
    with psycopg.connect(database_url) as conn:
        rows = imported(conn, "sales")["primary"]
        assert rows == [{"n": str(n), "word": f"w{n * 7919 % 10007}"} for n in range(3000)]
        assert conn.execute("SELECT description FROM datasets.datasets WHERE name = 'sales'").fetchone() == \
            ("Quarterly sales",)


def test_a_raw_body_with_query_fields_lands_with_its_sidecar(landing: Path, instance: dg.DagsterInstance) -> None:
    with serving(settings_for(landing, instance)) as url:
        answer = requests.post(f"{url}/import", params={"filename": "q1.csv", "ref": "feature/q1", "mode": "append"},
                               data=csv_text(10).encode(), headers={"Content-Type": "text/csv"})
        assert answer.status_code == 202, answer.text
        header = requests.post(f"{url}/import", data=b"a\n1\n",
                               headers={"Content-Disposition": 'attachment; filename="from header.csv"'})
        assert header.status_code == 202, header.text
    assert (landing / "q1.csv").read_text() == csv_text(10)
    assert (landing / "q1.csv.json").read_text() == '{"ref": "feature/q1", "mode": "append"}'
    assert left_in(landing) == ["from header.csv", "q1.csv", "q1.csv.json"]


def test_an_oversize_upload_is_refused_with_413_and_leaves_nothing(
        landing: Path, instance: dg.DagsterInstance) -> None:
    with serving(settings_for(landing, instance, max_bytes=MiB)) as url:
        declared = requests.post(f"{url}/import?filename=big.csv", data=b"x" * (MiB + 1))
        assert declared.status_code == 413 and "1,048,576 bytes" in declared.json()["error"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is found while streaming
            for _ in range(3):
                yield b"y" * (MiB // 2)

        streamed = requests.post(f"{url}/import?filename=big.csv", data=chunks())
        assert streamed.status_code == 413 and "limit of 1,048,576 bytes" in streamed.json()["error"]
        form = requests.post(f"{url}/import", files={"file": ("big.csv", b"z" * (MiB + MiB // 2))})
        assert form.status_code == 413  # within the form's allowance for its framing: found while streaming
    assert left_in(landing) == []


def test_an_aborted_upload_leaves_nothing(landing: Path, instance: dg.DagsterInstance) -> None:
    with serving(settings_for(landing, instance)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(b"POST /import?filename=cut.csv HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n")
            client.sendall(b"n\n1\n" * 250_000)  # 1 MB of the promised 5
            deadline = time.monotonic() + 10
            while not any(name.startswith(PART_PREFIX) for name in left_in(landing)):
                assert time.monotonic() < deadline, "the upload never started"
                time.sleep(0.02)
        deadline = time.monotonic() + 10
        while left_in(landing):
            assert time.monotonic() < deadline, f"left behind: {left_in(landing)}"
            time.sleep(0.02)
        assert requests.post(f"{url}/import?filename=cut.csv", data=b"n\n1\n").status_code == 202


@pytest.mark.parametrize(("raw", "landed"), [
    ("../../../etc/evil.csv", "evil.csv"),
    ("..\\..\\windows\\evil.csv", "evil.csv"),
    ("/absolute/path/report.csv", "report.csv"),
    (".hidden.csv", "hidden.csv"),
    ("nul\x00and\x07bell.csv", "nulandbell.csv"),
    ("quotes\"and'semi;colons<>|*?.csv", "quotes_and_semi_colons_____.csv"),
    ("Ünïcödé 日本語.xlsx", "Ünïcödé 日本語.xlsx"),
    ("x" * 400 + ".csv", "x" * 246 + ".csv"),  # with ".json", its sidecar's name fits 255 bytes
])
def test_hostile_file_names_land_inside_the_folder_sanitized(
        landing: Path, instance: dg.DagsterInstance, raw: str, landed: str) -> None:
    with serving(settings_for(landing, instance)) as url:
        answer = requests.post(f"{url}/import", params={"filename": raw}, data=b"a\n1\n")
        assert answer.status_code == 202, answer.text
        assert answer.json()["partition_key"] == landed
    assert left_in(landing) == [landed]
    assert left_in(landing.parent) == ["landing"]


@pytest.mark.parametrize("raw", ["../", "evil.sh", "data.csv.json", "....csv", " .csv", "", "a/b/"])
def test_names_with_nothing_importable_are_refused_with_422(
        landing: Path, instance: dg.DagsterInstance, raw: str) -> None:
    with serving(settings_for(landing, instance)) as url:
        answer = requests.post(f"{url}/import", params={"filename": raw}, data=b"a\n1\n")
        assert answer.status_code == 422 and answer.json()["field"] == "filename", answer.text
    assert left_in(landing) == []
    with pytest.raises(UploadRefused):
        sanitized_name(raw, DATA_SUFFIXES)


@pytest.mark.parametrize(("fields", "field", "says"), [
    ({"has_header": "maybe"}, "has_header", "not true or false"),
    ({"encoding": "klingon"}, "encoding", "unknown encoding"),
    ({"mode": "merge"}, "mode", "'replace' or 'append'"),
    ({"ref": "bad..ref"}, "ref", "not a valid ref name"),
    ({"dataset": "a\x00b"}, "dataset", "control character"),
    ({"colour": "blue"}, "colour", "unknown field"),
])
def test_a_bad_field_is_refused_with_422_naming_it(
        landing: Path, instance: dg.DagsterInstance, fields: dict[str, str], field: str, says: str) -> None:
    with serving(settings_for(landing, instance)) as url:
        form = requests.post(f"{url}/import", files={"file": ("f.csv", b"a\n1\n")}, data=fields)
        query = requests.post(f"{url}/import", params={"filename": "f.csv", **fields}, data=b"a\n1\n")
    for answer in (form, query):
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field and says in answer.json()["error"]
    assert left_in(landing) == []


def test_a_token_guards_both_routes(landing: Path, instance: dg.DagsterInstance) -> None:
    with serving(settings_for(landing, instance, token="s3cret")) as url:
        assert requests.post(f"{url}/import?filename=a.csv", data=b"a\n1\n").status_code == 401
        wrong = requests.post(f"{url}/import?filename=a.csv", data=b"a\n1\n",
                              headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"
        assert requests.get(f"{url}/import/a.csv").status_code == 401
        assert left_in(landing) == []
        right = requests.post(f"{url}/import?filename=a.csv", data=b"a\n1\n",
                              headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 202
        assert requests.get(f"{url}/import/a.csv", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    with pytest.raises(UploadServerRefused):
        upload_settings_from_environment("0.0.0.0")


def test_concurrent_uploads_into_one_dataset_end_in_a_linear_commit_chain(
        landing: Path, instance: dg.DagsterInstance, database_url: str) -> None:
    names = [f"part{n}.csv" for n in range(4)]
    answers: dict[str, requests.Response] = {}

    def upload(url: str, name: str, n: int) -> None:
        answers[name] = requests.post(f"{url}/import", files={"file": (name, csv_text(2000, n * 2000).encode())},
                                      data={"dataset": "shared", "mode": "append"})

    with serving(settings_for(landing, instance)) as url:
        assert run_at_once(lambda item: upload(url, *item), [(name, n) for n, name in enumerate(names)]) == []
    assert {name: a.status_code for name, a in answers.items()} == dict.fromkeys(names, 202)
    folder = DatasetFiles(landing_dir=str(landing))
    def run(name: str) -> None:  # as the runs the sensor starts would, each on a connection of its own
        request = folder.request(name)
        with psycopg.connect(database_url) as conn:
            staged = stage_file(conn, request)
            commit_import(conn, request, sha256=staged.sha256)

    assert run_at_once(run, names) == []
    with psycopg.connect(database_url) as conn:
        chain = dict(conn.execute("SELECT commit_id, parent_commit_id FROM datasets.commits").fetchall())
        head = conn.execute("SELECT commit_id FROM datasets.refs WHERE name = 'main'").fetchone()[0]
        walked = []
        while head is not None:
            walked.append(head)
            head = chain[head]
        assert len(walked) == len(chain) == 4
        assert sorted(int(row["n"]) for row in imported(conn, "shared")["primary"]) == list(range(8000))


def test_two_uploads_of_one_name_at_once_one_waits_its_turn(landing: Path, instance: dg.DagsterInstance) -> None:
    started = threading.Event()

    def slow() -> Iterator[bytes]:
        yield b"n\n"
        started.set()
        time.sleep(1.0)
        yield b"1\n"

    with serving(settings_for(landing, instance)) as url:
        first: dict[str, requests.Response] = {}
        thread = threading.Thread(target=lambda: first.setdefault("answer", requests.post(
            f"{url}/import?filename=same.csv", data=slow())))
        thread.start()
        started.wait(5)
        time.sleep(0.2)
        second = requests.post(f"{url}/import?filename=same.csv", data=b"n\n2\n")
        thread.join()
    assert second.status_code == 409 and "being uploaded" in second.json()["error"]
    assert first["answer"].status_code == 202 and (landing / "same.csv").read_bytes() == b"n\n1\n"


def test_temporary_files_of_dead_uploads_are_swept(landing: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    abandoned = landing / f"{PART_PREFIX}{int(dead.stdout)}-abcdef0123456789.part"
    ours = landing / f"{PART_PREFIX}{os.getpid()}-abcdef0123456789.part"
    for path in (abandoned, ours):
        path.write_bytes(b"half")
    assert sweep_abandoned(landing) == [abandoned]
    assert left_in(landing) == [ours.name]


def _rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for {pid}")


def test_a_gigabyte_streams_through_the_server_in_flat_memory(tmp_path: Path, database_url: str) -> None:
    landing = tmp_path / "landing"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "IMPORT_PIPELINE_DATABASE_URL": database_url, "DAGSTER_HOME": str(tmp_path / "dagster"),
           "IMPORT_PIPELINE_DATASETS_DIR": str(landing), "IMPORT_PIPELINE_DATASETS_MAX_BYTES": str(2 * 1024 * MiB)}
    (tmp_path / "dagster").mkdir()
    server = subprocess.Popen([sys.executable, "-m", "import_pipeline.cli", "serve-uploads", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the upload server did not start"
                time.sleep(0.1)
        block = csv_text(40_000).encode()[:MiB]
        block = block[: block.rfind(b"\n") + 1]
        samples: list[float] = []
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for n in range(1024 * MiB // len(block)):
                digest.update(block)
                if n % 64 == 0:
                    samples.append(_rss_mib(server.pid, "VmRSS"))
                yield block

        answer = requests.post(f"http://127.0.0.1:{port}/import?filename=huge.csv", data=body(), timeout=600)
        assert answer.status_code == 202, answer.text
        peak = _rss_mib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(30)
    assert answer.json()["bytes"] >= 1000 * MiB and answer.json()["sha256"] == digest.hexdigest()
    assert (landing / "huge.csv").stat().st_size == answer.json()["bytes"]
    print(f"1 GiB upload: server peak RSS {peak:.0f} MiB, during the upload {min(samples):.0f}-{max(samples):.0f} MiB")
    assert peak < 150, f"peak RSS {peak:.0f} MiB"
    assert max(samples) - samples[1] < 20, f"RSS grew during the upload: {samples}"
    assert left_in(landing) == ["huge.csv"]
