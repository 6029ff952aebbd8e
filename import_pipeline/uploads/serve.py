"""Run the upload endpoint with uvicorn (`import-pipeline serve-uploads`)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os

import dagster as dg
import uvicorn

from import_pipeline.defs.datasets.resources import DATA_SUFFIXES, LANDING_ENV
from import_pipeline.defs.landing import landing_folder
from import_pipeline.load.datasets.request import configured_max_bytes
from import_pipeline.uploads.app import UploadSettings, create_app
from import_pipeline.uploads.receiving import sweep_abandoned

#: The variable holding the bearer token uploads must carry.
TOKEN_ENV = "IMPORT_PIPELINE_UPLOAD_TOKEN"
DEFAULT_PORT = 3100

log = logging.getLogger(__name__)


class UploadServerRefused(RuntimeError):
    """The endpoint will not start as configured (one line says why)."""


def upload_settings_from_environment(host: str, *, token: str | None = None,
                                     webserver_url: str = "http://127.0.0.1:3000") -> UploadSettings:
    """The endpoint's settings: the datasets landing folder (created), its size limit, the
    token (`token`, else `IMPORT_PIPELINE_UPLOAD_TOKEN`) and the Dagster instance of
    `DAGSTER_HOME`. `UploadServerRefused` for a host that is not loopback without a token."""
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not _loopback(host):
        raise UploadServerRefused(f"serving uploads on {host} needs a bearer token: set {TOKEN_ENV} (or --token); "
                                  "without one the endpoint binds to loopback only")
    folder = landing_folder(None, LANDING_ENV, "datasets")
    folder.mkdir(parents=True, exist_ok=True)
    return UploadSettings(folder=folder, suffixes=DATA_SUFFIXES, max_bytes=configured_max_bytes(), token=token,
                          instance=functools.cache(dg.DagsterInstance.get), webserver_url=webserver_url)


def serve_uploads(settings: UploadSettings, host: str, port: int) -> None:
    """Serve the endpoint until interrupted; temporary files of dead uploads are swept first."""
    for path in sweep_abandoned(settings.folder):
        log.info("deleted %s, left by an upload that died", path.name)
    log.info("uploads land in %s (largest %s bytes)", settings.folder, f"{settings.max_bytes:,}")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=True)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
