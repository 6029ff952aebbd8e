"""The Kubernetes variant (deploy/k8s/): its instance loads, and a run launched through it becomes a
Kubernetes Job whose container, run here with the pod's environment, imports the partition.

No cluster is needed: the Kubernetes API is a local HTTP server that records what it is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
import yaml

from import_pipeline.cli import dagster_storage_url
from import_pipeline.defs.executor import EXECUTOR_ENV
from import_pipeline.defs.skype.partitions import SKYPE_EXPORTS
from import_pipeline_tests import celery_jobs

PROJECT = Path(__file__).resolve().parents[1]
VARIANT = PROJECT / "deploy" / "k8s"
IMAGE = "registry.example/import-pipeline:1"


class KubernetesApi(ThreadingHTTPServer):
    """Answers the batch API's job creation with the job it was sent, and keeps every request."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.requests: list[tuple[str, str, Any]] = []


class _ApiHandler(BaseHTTPRequestHandler):
    server: KubernetesApi

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(("POST", self.path, body))
        self._answer(201, body)

    def do_GET(self) -> None:  # noqa: N802
        self.server.requests.append(("GET", self.path, None))
        self._answer(404, {"kind": "Status", "code": 404})

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def kubernetes_api() -> Iterator[KubernetesApi]:
    api = KubernetesApi()
    thread = threading.Thread(target=api.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def variant_config() -> dict[str, Any]:
    return yaml.safe_load((VARIANT / "dagster.yaml").read_text())


def test_the_variant_keeps_the_concurrency_limits_of_the_top_level_instance() -> None:
    top = yaml.safe_load((PROJECT / "dagster.yaml").read_text())
    variant = variant_config()
    assert variant["concurrency"] == top["concurrency"]
    assert variant["run_coordinator"] == top["run_coordinator"]
    assert variant["storage"] == top["storage"]


def test_the_workspace_reaches_the_code_location_over_grpc() -> None:
    (location,) = yaml.safe_load((VARIANT / "workspace.yaml").read_text())["load_from"]
    assert set(location) == {"grpc_server"}
    assert location["grpc_server"]["location_name"] == "import_pipeline"


def test_a_run_becomes_a_job_whose_pod_imports_the_partition(tmp_path: Path, database_url: str,
                                                             kubernetes_api: KubernetesApi,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from import_pipeline.generate import skype

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "here",
        "clusters": [{"name": "here", "cluster": {"server": f"http://127.0.0.1:{kubernetes_api.server_port}"}}],
        "users": [{"name": "here", "user": {"token": "t"}}],
        "contexts": [{"name": "here", "context": {"cluster": "here", "user": "here"}}],
    }))
    # The shipped file, but the API is this test's rather than the cluster's own.
    config = variant_config()
    config["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    secret = {"IMPORT_PIPELINE_DATABASE_URL": database_url,
              "IMPORT_PIPELINE_DAGSTER_STORAGE_URL": dagster_storage_url(database_url)}
    for name, value in {**secret, "DAGSTER_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)  # the launcher must not need it

    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_launcher).__name__ == "K8sRunLauncher"
        instance.add_dynamic_partitions(SKYPE_EXPORTS, ["export.json"])
        job = dg.reconstructable(celery_jobs.skype_import_job)
        origin = job.get_python_origin()
        origin = origin._replace(repository_origin=origin.repository_origin._replace(container_image=IMAGE))
        run = instance.create_run_for_job(job.get_definition(), job_code_origin=origin,
                                          tags={"dagster/partition": "export.json"})
        instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]

    ((method, path, body),) = kubernetes_api.requests
    assert (method, path, body["kind"]) == ("POST", "/apis/batch/v1/namespaces/imports/jobs", "Job")
    pod = body["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["envFrom"] == [{"secretRef": {"name": "import-pipeline-database"}}]
    env = {item["name"]: item.get("value", "") for item in container["env"]}
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == f"{env['IMPORT_PIPELINE_HOME']}/landing", "runs must read where the sensors look"
    assert {volume["name"] for volume in pod["volumes"]} == {mount["name"]}

    # The pod, here: its command with its environment, the secret's variables and its landing volume.
    pod_home = tmp_path / "pod"
    skype_landing = pod_home / "landing" / "skype"
    skype_landing.mkdir(parents=True)
    skype.generate(tmp_path / "g", messages=300, seed=5).path.rename(skype_landing / "export.json")
    env = {**env, **secret, "IMPORT_PIPELINE_HOME": str(pod_home), "DAGSTER_HOME": str(home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    finished = subprocess.run(container["args"], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    with dg.DagsterInstance.get() as instance:
        stored = instance.get_run_by_id(run.run_id)
        assert stored is not None and stored.status == dg.DagsterRunStatus.SUCCESS
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM skype.messages").fetchone()
        assert row is not None and row[0] > 250


def test_the_k8s_executor_is_every_jobs_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    from import_pipeline.definitions import defs

    monkeypatch.setenv(EXECUTOR_ENV, "k8s")
    assert defs().resolve_job_def("skype_import_job").executor_def.name == "k8s"
    monkeypatch.setenv(EXECUTOR_ENV, "kubernetes")
    with pytest.raises(Exception) as raised:
        defs()
    causes = []
    error: BaseException | None = raised.value
    while error is not None:
        causes.append(str(error))
        error = error.__cause__
    assert any("expected celery, k8s or nothing" in cause for cause in causes), causes
