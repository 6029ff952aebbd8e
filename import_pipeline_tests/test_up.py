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
