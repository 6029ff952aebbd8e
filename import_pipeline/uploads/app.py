"""The upload endpoint's ASGI app: `POST /import` streams a file into the datasets landing
folder, `GET /import/{key}` reports the import the landing sensor starts for it.

`POST /import` takes a `multipart/form-data` body (the file as the part `file`, settings as
fields) or a raw body (the name from the `filename` query parameter or a
`Content-Disposition` header); settings may also come as query parameters. Answers:
202 with the partition key once the file is landed (the landing sensor then starts its
run); 413 at once when `Content-Length` or the bytes received pass `max_bytes`; 422 naming
the refused field; 409 while another upload of the same name is in progress; 401 without
the bearer token when one is configured. Whatever ends an upload early (a refusal, a
dropped connection, an error) deletes what it wrote.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from python_multipart.multipart import parse_options_header
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from import_pipeline.landing import landed_name_problem
from import_pipeline.sources.datasets.settings import SETTINGS_KEYS
from import_pipeline.uploads.fields import upload_settings
from import_pipeline.uploads.multipart import MAX_FIELD_BYTES, MultipartForm, multipart_boundary
from import_pipeline.uploads.receiving import UploadFile, UploadRefused, UploadTooLarge, sanitized_name
from import_pipeline.uploads.status import import_status

log = logging.getLogger(__name__)
#: Bytes a multipart body may carry beyond its file (boundaries, part headers, fields).
FORM_OVERHEAD_BYTES = 64 * MAX_FIELD_BYTES


@dataclass(frozen=True)
class UploadSettings:
    """What the endpoint needs: the landing folder and its suffixes, the size limit, the
    bearer token (None: no token, allowed on loopback only), the Dagster instance to read
    runs from and the UI's address for run links."""

    folder: Path
    suffixes: tuple[str, ...]
    max_bytes: int
    token: str | None
    instance: Callable[[], dg.DagsterInstance]
    webserver_url: str = "http://127.0.0.1:3000"


def create_app(settings: UploadSettings) -> Starlette:
    """The endpoint's app (see the module)."""
    in_progress: set[str] = set()
    lock = threading.Lock()

    def unauthorized(request: Request) -> Response | None:
        if settings.token is None:
            host = request.client.host if request.client else ""
            if host in ("127.0.0.1", "::1", "localhost"):
                return None
            return _error(401, "authorization", "this endpoint has no token configured and answers loopback only")
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), settings.token.encode()):
            return None
        response = _error(401, "authorization", "a bearer token is required (Authorization: Bearer <token>)")
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def post_import(request: Request) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        content_type = request.headers.get("content-type", "application/octet-stream")
        boundary = multipart_boundary(content_type)
        declared = request.headers.get("content-length")
        allowance = settings.max_bytes + (FORM_OVERHEAD_BYTES if boundary else 0)
        if declared is not None and declared.isdigit() and int(declared) > allowance:
            return _too_large(settings.max_bytes)
        query = {k: v for k, v in request.query_params.items() if k != "filename"}
        unknown = sorted(set(query) - set(SETTINGS_KEYS))
        if unknown:
            return _error(422, unknown[0], f"unknown field {unknown[0]!r}; known fields: {', '.join(SETTINGS_KEYS)}")
        upload: UploadFile | None = None
        name: str | None = None
        try:
            if boundary is None:
                wanted = sanitized_name(_raw_file_name(request), settings.suffixes)
                upload_settings(query, wanted)  # refused before the body is read
                name = _claim(wanted, in_progress, lock)
                upload = UploadFile(settings.folder, settings.max_bytes, label=f"upload of {name}")
                async for chunk in request.stream():
                    await run_in_threadpool(upload.write, chunk)
                fields = query
            else:
                opened: list[UploadFile] = []

                def open_file(raw_name: str) -> Callable[[bytes], Any]:
                    nonlocal name
                    name = _claim(sanitized_name(raw_name, settings.suffixes), in_progress, lock)
                    opened.append(UploadFile(settings.folder, settings.max_bytes, label=f"upload of {name}"))
                    return opened[0].write

                form = MultipartForm(boundary, open_file)
                try:
                    async for chunk in request.stream():
                        await run_in_threadpool(form.write, chunk)
                    form.finish()
                finally:
                    upload = opened[0] if opened else None
                both = set(form.fields) & set(query)
                if both:
                    raise UploadRefused(sorted(both)[0], f"field {sorted(both)[0]!r} given twice (form and query)")
                fields = {**query, **form.fields}
                unknown = sorted(set(fields) - set(SETTINGS_KEYS))
                if unknown:
                    raise UploadRefused(unknown[0], f"unknown field {unknown[0]!r}; known fields: "
                                                    f"{', '.join(SETTINGS_KEYS)}")
            assert upload is not None and name is not None
            sidecar = upload_settings(fields, name)
            path = await run_in_threadpool(upload.land, name, sidecar)
            landed, upload = upload, None
        except UploadTooLarge:
            return _too_large(settings.max_bytes)
        except UploadRefused as exc:
            return _error(409 if exc.field == "in_progress" else 422, exc.field, str(exc))
        except OSError as exc:  # the landing folder's disk is full, say
            log.exception("upload of %s failed", name or "a file")
            return _error(500, "file", f"the upload could not be stored: {exc.strerror or exc}")
        except ClientDisconnect:
            log.warning("upload of %s: the client went away; nothing was kept", name or "a file")
            return Response(status_code=400)
        finally:
            if upload is not None:
                await run_in_threadpool(upload.discard)
            if name is not None:
                with lock:
                    in_progress.discard(name)
        try:
            status = await run_in_threadpool(import_status, settings.instance(), settings.folder, path.name,
                                             settings.webserver_url)
            run = {"status": status.status, "run_id": status.run_id, "run_url": status.run_url}
        except Exception as exc:  # the file is landed; the sensor takes it whether or not Dagster answers now
            log.warning("upload of %s: landed, but the run status is unknown: %s", path.name, exc)
            run = {"status": "UNKNOWN", "run_id": None, "run_url": None}
        return JSONResponse({"partition_key": path.name, "bytes": landed.size, "sha256": landed.sha256.hexdigest(),
                             "status_url": f"/import/{path.name}", **run}, status_code=202)

    async def get_import(request: Request) -> Response:
        refusal = unauthorized(request)
        if refusal is not None:
            return refusal
        key = request.path_params["key"]
        if landed_name_problem(key, settings.suffixes) is not None:
            return _error(404, "key", f"{key[:100]!r} is not an importable file name")
        status = await run_in_threadpool(import_status, settings.instance(), settings.folder, key,
                                         settings.webserver_url)
        return JSONResponse(status.as_json(), status_code=200 if status.landed else 404)

    return Starlette(routes=[Route("/import", post_import, methods=["POST"]),
                             Route("/import/{key:path}", get_import, methods=["GET"])])


def _claim(name: str, in_progress: set[str], lock: threading.Lock) -> str:
    with lock:
        if name in in_progress:
            raise UploadRefused("in_progress", f"{name} is being uploaded by another request; try again when it ends")
        in_progress.add(name)
    return name


def _raw_file_name(request: Request) -> str:
    name = request.query_params.get("filename")
    if name is None:
        _, options = parse_options_header(request.headers.get("content-disposition", ""))
        raw = options.get(b"filename")
        name = raw.decode("utf-8", "replace") if raw is not None else None
    if not name:
        raise UploadRefused("filename", "a raw upload needs a file name: ?filename=... or a Content-Disposition header")
    return name


def _too_large(limit: int) -> Response:
    return _error(413, "file", str(UploadTooLarge(limit)))


def _error(status: int, field: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status)
