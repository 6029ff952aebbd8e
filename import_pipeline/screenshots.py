"""`import-pipeline screenshots`: pictures of the Dagster UI after the demo, for the README.

Installs Debian's `chromium` when it is missing (as root, with apt-get), runs the demo so the
UI has something to show, starts `import-pipeline up` on a free port, and takes headless
screenshots of the asset graph, one family's group, a materialized asset's page (columns and
row count) and a run's page into `docs/`. Everything it started is stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

LOCATION = "import_pipeline.definitions:defs"
#: The pictures: file name, path of the UI page.
PAGES = (
    ("asset-graph.png", "/asset-groups"),
    ("skype-group.png", f"/locations/{LOCATION}/asset-groups/skype"),
    ("skype-messages-asset.png", "/assets/skype/messages?view=overview"),
)


class ScreenshotsFailed(RuntimeError):
    """A step of taking the screenshots failed (one line says which)."""


def chromium() -> str:
    """The chromium executable, installed from Debian's packages when missing."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        raise ScreenshotsFailed("chromium is missing: install it with `sudo apt-get install -y chromium`")
    print("installing Debian's chromium ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    found = shutil.which("chromium")
    if not found:
        raise ScreenshotsFailed("apt-get installed chromium, but it is not on PATH")
    return found


def take_screenshots(out: Path, *, width: int = 1600, height: int = 1000) -> list[Path]:
    """Run the demo, start the UI, and write the pictures of `PAGES` and of a run's page into
    `out`; return their paths."""
    browser = chromium()
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "import_pipeline.cli", "demo"], check=True, stdout=subprocess.DEVNULL)
    port, uploads_port = _free_port(), _free_port()
    up = subprocess.Popen([sys.executable, "-m", "import_pipeline.cli", "up", "--port", str(port), "--uploads-port",
                           str(uploads_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/server_info", up)
        # The first-run "join the community" dialog would cover every picture: mark it seen.
        requests.post(f"{base}/graphql", json={"query": "mutation { setNuxSeen }"}, timeout=60).raise_for_status()
        pages = [*PAGES, ("run.png", f"/runs/{_latest_run(base, 'skype_import_job')}")]
        written = []
        for name, page in pages:
            target = out / name
            subprocess.run([browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--window-size={width},{height}", "--virtual-time-budget=20000",
                            f"--screenshot={target}", base + page], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=120)
            written.append(target)
            print(f"{target}: {base + page}")
        return written
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(url: str, up: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if up.poll() is not None:
            raise ScreenshotsFailed(f"import-pipeline up exited with {up.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise ScreenshotsFailed(f"{url} did not answer in {seconds:.0f} s") from None
            time.sleep(0.5)


def _latest_run(base: str, job: str) -> str:
    query = """query($job: String!) { runsOrError(filter: {pipelineName: $job}, limit: 1) {
        ... on Runs { results { runId } } } }"""
    answer = requests.post(f"{base}/graphql", json={"query": query, "variables": {"job": job}}, timeout=60).json()
    runs = answer.get("data", {}).get("runsOrError", {}).get("results") or []
    if not runs:
        raise ScreenshotsFailed(f"no run of {job} to show (did the demo run?)")
    return str(runs[0]["runId"])
