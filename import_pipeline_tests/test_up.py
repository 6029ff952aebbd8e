"""`import-pipeline up` as people start it: the UI, the daemon and the upload endpoint come
up, Dagster keeps its files under the project's home, and SIGTERM stops everything, even
when `up` was started in the background with SIGINT ignored."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

PROJECT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def in_session(session: int) -> list[psutil.Process]:
    alive = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return alive


def wait_for(url: str, deadline: float, up: subprocess.Popen[str]) -> requests.Response:
    while True:
        assert up.poll() is None, f"up exited with {up.returncode}"
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.5)


@pytest.mark.e2e
def test_up_serves_the_ui_and_uploads_and_stops_on_sigterm_when_started_in_the_background(
        tmp_path: Path, database_url: str) -> None:
    ui, uploads = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "IMPORT_PIPELINE_DAGSTER_STORAGE_URL")}
    env |= {"IMPORT_PIPELINE_DATABASE_URL": database_url, "IMPORT_PIPELINE_HOME": str(tmp_path)}
    for name in ("GAMEDATA", "DATASETS", "DISCOGS", "SKYPE"):
        env.pop(f"IMPORT_PIPELINE_{name}_DIR", None)
    nux_before = (PROJECT / ".nux").exists()
    up = subprocess.Popen(  # as `nohup import-pipeline up &` starts it: SIGINT ignored, a session of its own
        [sys.executable, "-m", "import_pipeline.cli", "up", "--port", str(ui), "--uploads-port", str(uploads)],
        cwd=PROJECT, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 180
        assert wait_for(f"http://127.0.0.1:{ui}/server_info", deadline, up).status_code == 200
        assert wait_for(f"http://127.0.0.1:{uploads}/import/nothing.csv", deadline, up).status_code == 404
        for family in ("gamedata", "datasets", "discogs", "skype"):
            assert (tmp_path / "landing" / family).is_dir()
        assert (tmp_path / "dagster" / "dagster.yaml").read_bytes() == (PROJECT / "dagster.yaml").read_bytes()
        assert (PROJECT / ".nux").exists() == nux_before
        started = in_session(up.pid)
        assert len(started) >= 4  # up, dg dev's webserver and daemon, the upload endpoint
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=90)
        deadline = time.monotonic() + 30
        while in_session(up.pid):
            assert time.monotonic() < deadline, f"left running: {[p.cmdline() for p in in_session(up.pid)]}"
            time.sleep(0.5)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    output = up.stdout.read() if up.stdout else ""
    assert "DEBUG" not in output


class GraphQL:
    """The webserver's GraphQL API, as the UI uses it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.repository = {"repositoryLocationName": "import_pipeline.definitions:defs",
                           "repositoryName": "__repository__"}

    def __call__(self, query: str, **variables: object) -> dict:
        answer = requests.post(self.url, json={"query": query, "variables": variables}, timeout=60).json()
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def launch(self, job: str, tags: dict[str, str], run_config: str | None = None) -> str:
        data = self("""mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
            __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message }
            ... on RunConfigValidationInvalid { errors { message } } } }""", params={
            "selector": {**self.repository, "jobName": job}, "runConfigData": run_config or {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}})
        assert data["launchRun"]["__typename"] == "LaunchRunSuccess", data
        return str(data["launchRun"]["run"]["runId"])

    def run_status(self, run_id: str) -> str:
        data = self("query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id)
        return str(data["runOrError"]["status"])

    def wait_for_run(self, run_id: str, timeout: float = 240) -> str:
        deadline = time.monotonic() + timeout
        while (status := self.run_status(run_id)) not in ("SUCCESS", "FAILURE", "CANCELED"):
            assert time.monotonic() < deadline, f"run {run_id} still {status}"
            time.sleep(1)
        return status

    def runs_of_partition(self, key: str) -> list[dict]:
        data = self("""query($key: String!) { runsOrError(filter: {tags: [{key: "dagster/partition", value: $key}]}) {
            ... on Runs { results { runId status tags { key value } } } } }""", key=key)
        return list(data["runsOrError"]["results"])

    def add_partition(self, name: str, key: str) -> None:
        data = self("""mutation($name: String!, $key: String!, $repo: RepositorySelector!) {
            addDynamicPartition(partitionsDefName: $name, partitionKey: $key, repositorySelector: $repo) {
            __typename } }""", name=name, key=key, repo=self.repository)
        assert data["addDynamicPartition"]["__typename"] == "AddDynamicPartitionSuccess", data

    def backfill(self, assets: list[list[str]], partitions: list[str]) -> str:
        data = self("""mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                    params={"assetSelection": [{"path": path} for path in assets], "partitionNames": partitions})
        assert data["launchPartitionBackfill"]["__typename"] == "LaunchBackfillSuccess", data
        return str(data["launchPartitionBackfill"]["backfillId"])

    def wait_for_backfill(self, backfill_id: str, timeout: float = 300) -> str:
        deadline = time.monotonic() + timeout
        while True:
            data = self("query($id: String!) { partitionBackfillOrError(backfillId: $id) { "
                        "... on PartitionBackfill { status } } }", id=backfill_id)
            status = str(data["partitionBackfillOrError"]["status"])
            if status not in ("REQUESTED", "CANCELING", "FAILING"):
                return status
            assert time.monotonic() < deadline, f"backfill {backfill_id} still {status}"
            time.sleep(1)

    def check_statuses(self, path: list[str]) -> dict[str, str | None]:
        data = self("""query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) { ... on AssetNode {
            assetChecksOrError { ... on AssetChecks { checks { name executionForLatestMaterialization { status }
            } } } } } }""", key={"path": path})
        checks = data["assetNodeOrError"]["assetChecksOrError"]["checks"]
        return {c["name"]: (c["executionForLatestMaterialization"] or {}).get("status") for c in checks}

    def schedule_tick(self, schedule: str) -> list[dict]:
        data = self("""mutation($selector: ScheduleSelector!, $at: Float!) { scheduleDryRun(selectorData: $selector,
            timestamp: $at) { ... on DryRunInstigationTick { evaluationResult { runRequests { runKey jobName
            runConfigYaml tags { key value } } error { message } } } } }""",
                    selector={**self.repository, "scheduleName": schedule}, at=time.time())
        result = data["scheduleDryRun"]["evaluationResult"]
        assert result["error"] is None, result["error"]
        return list(result["runRequests"])


@pytest.mark.e2e
def test_the_ui_api_drives_runs_backfills_sensors_schedules_and_checks(tmp_path: Path, database_url: str) -> None:
    from import_pipeline.generate import skype

    ui, uploads = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "IMPORT_PIPELINE_DAGSTER_STORAGE_URL")}
    env |= {"IMPORT_PIPELINE_DATABASE_URL": database_url, "IMPORT_PIPELINE_HOME": str(tmp_path)}
    for name in ("GAMEDATA", "DATASETS", "DISCOGS", "SKYPE"):
        env.pop(f"IMPORT_PIPELINE_{name}_DIR", None)
    landing = tmp_path / "landing"
    (landing / "datasets").mkdir(parents=True)
    for n, name in enumerate(("first.csv", "second.csv", "third.csv")):
        rows = "".join(f"{i},{i * i}\n" for i in range(n * 100, n * 100 + 50))
        (landing / "datasets" / name).write_text("n,sq\n" + rows)
    for n, name in enumerate(("one.json", "two.json")):
        export = skype.generate(tmp_path / f"export{n}", messages=300, seed=n + 1)
        (landing / "skype").mkdir(parents=True, exist_ok=True)
        export.path.rename(landing / "skype" / name)
    up = subprocess.Popen(
        [sys.executable, "-m", "import_pipeline.cli", "up", "--port", str(ui), "--uploads-port", str(uploads)],
        cwd=PROJECT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{ui}/server_info", time.monotonic() + 180, up)
        api = GraphQL(ui)
        for name in ("first.csv", "second.csv", "third.csv"):
            api.add_partition("dataset_files", name)
        for name in ("one.json", "two.json"):
            api.add_partition("skype_exports", name)

        # One partition, launched as the UI's "Materialize" does.
        run = api.launch("datasets_import_job", {"dagster/partition": "first.csv"})
        assert api.wait_for_run(run) == "SUCCESS"

        # A backfill over several partitions of two families.
        datasets = api.backfill([["datasets", "staged_rows"], ["datasets", "commits"]], ["second.csv", "third.csv"])
        chats = api.backfill([["skype", "messages"], ["skype", "conversations"], ["skype", "participants"]],
                             ["one.json", "two.json"])
        assert api.wait_for_backfill(datasets) in ("COMPLETED", "COMPLETED_SUCCESS")
        assert api.wait_for_backfill(chats) in ("COMPLETED", "COMPLETED_SUCCESS")

        # A file dropped into a landing folder: the sensor's run, untouched by hand.
        (landing / "datasets" / "dropped.csv").write_text("n\n1\n2\n3\n")
        deadline = time.monotonic() + 240
        while not (runs := api.runs_of_partition("dropped.csv")) or runs[0]["status"] not in ("SUCCESS", "FAILURE"):
            assert time.monotonic() < deadline, f"no sensor run finished for dropped.csv: {runs}"
            time.sleep(2)
        assert runs[0]["status"] == "SUCCESS"
        assert {"key": "dagster/sensor_name", "value": "datasets_landing_sensor"} in runs[0]["tags"]

        # A schedule's tick, and its run.
        [request] = api.schedule_tick("maintenance_nightly_schedule")
        tick_run = api.launch(request["jobName"] or "maintenance_job", {t["key"]: t["value"] for t in request["tags"]})
        assert api.wait_for_run(tick_run) == "SUCCESS"

        # The checks' results, as the asset pages show them.
        assert api.check_statuses(["skype", "messages"])["rejects_under_ratio"] == "SUCCEEDED"
        assert api.check_statuses(["datasets", "commits"])["commit_rows_resolve"] == "SUCCEEDED"
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait()
    deadline = time.monotonic() + 30
    while in_session(up.pid):
        assert time.monotonic() < deadline, f"left running: {[p.cmdline() for p in in_session(up.pid)]}"
        time.sleep(0.5)
    with psycopg.connect(database_url) as conn:
        commits = conn.execute("SELECT d.name, c.row_count FROM datasets.commits c "
                               "JOIN datasets.datasets d ON d.id = c.dataset_id ORDER BY 1").fetchall()
        assert commits == [("dropped", 3), ("first", 50), ("second", 50), ("third", 50)]
        messages = conn.execute("SELECT count(*) FROM skype.messages").fetchone()
        assert messages is not None and messages[0] > 300
