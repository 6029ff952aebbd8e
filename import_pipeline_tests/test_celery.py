"""The code location on an existing distributed engine: dagster-celery workers on RabbitMQ."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from import_pipeline.cli import dagster_storage_url
from import_pipeline.defs.skype.partitions import SKYPE_EXPORTS
from import_pipeline_tests import celery_jobs

PROJECT = Path(__file__).resolve().parents[1]
BROKER = ("127.0.0.1", 5672)


def broker_answers() -> bool:
    try:
        socket.create_connection(BROKER, timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.e2e
@pytest.mark.skipif(not broker_answers(), reason="no RabbitMQ on 127.0.0.1:5672")
def test_a_backfill_runs_its_steps_on_two_celery_workers(tmp_path: Path, database_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from import_pipeline.generate import skype

    landing = tmp_path / "landing"
    landing.mkdir()
    names = [f"export{n}.json" for n in range(3)]
    for n, name in enumerate(names):
        skype.generate(tmp_path / f"g{n}", messages=200, seed=n + 1).path.rename(landing / name)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("storage:\n  postgres:\n    postgres_url:\n"
                                       "      env: IMPORT_PIPELINE_DAGSTER_STORAGE_URL\n")
    env = {"DAGSTER_HOME": str(home), "IMPORT_PIPELINE_DATABASE_URL": database_url,
           "IMPORT_PIPELINE_DAGSTER_STORAGE_URL": dagster_storage_url(database_url),
           "IMPORT_PIPELINE_SKYPE_DIR": str(landing), "IMPORT_PIPELINE_EXECUTOR": "celery",
           "PYTHONPATH": str(PROJECT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    worker = Path(sys.executable).with_name("dagster-celery")
    # Threads, not Celery's default prefork pool: its processes are daemons, which may not start the
    # parsing child a step runs its reader in.
    workers = [subprocess.Popen([str(worker), "worker", "start", "-n", f"w{n}-{os.getpid()}",
                                 "-A", "dagster_celery.app", "--", "-P", "threads", "-c", "2"],
                                cwd=PROJECT, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True) for n in range(2)]
    try:
        time.sleep(8)  # the workers connect to the broker
        assert all(w.poll() is None for w in workers)
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions(SKYPE_EXPORTS, names)
            job = dg.reconstructable(celery_jobs.skype_import_job)
            results = []
            for name in names:
                with dg.execute_job(job, instance, tags={"dagster/partition": name}) as result:
                    results.append(result.success)
        assert results == [True] * len(names)
    finally:
        for process in workers:  # dagster-celery and the celery worker it started
            os.killpg(process.pid, signal.SIGTERM)
        outputs = [process.communicate(timeout=60)[0] for process in workers]
    assert all("succeeded" in output for output in outputs), [o[-2000:] for o in outputs]
    with psycopg.connect(database_url) as conn:
        exports = conn.execute("SELECT count(DISTINCT export_id), count(*) FROM skype.messages").fetchone()
        assert exports is not None and exports[0] >= 1 and exports[1] > 200
