"""An upload written into a landing folder, never seen there half-written.

The bytes go to a hidden temporary file in the landing folder itself (same file system, so
the final rename is atomic), in 1 MiB writes, while their size and SHA-256 are computed. A
write past the size limit raises `UploadTooLarge`. `land` puts the sidecar in place, then
renames the file to its name; `discard` deletes it. A process killed mid-upload leaves its
temporary file behind under a name holding its pid: `sweep_abandoned` deletes those of dead
processes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from import_pipeline.landing import MAX_NAME_BYTES, landed_name_problem

#: Temporary files are `.upload-<pid>-<random>.part`: hidden, so no sensor takes them.
PART_PREFIX = ".upload-"
PART_SUFFIX = ".part"
SIDECAR_SUFFIX = ".json"
#: Bytes buffered before each write to the temporary file.
WRITE_BYTES = 1 << 20
#: Bytes between two progress lines in the log.
PROGRESS_BYTES = 256 << 20
_PART_NAME = re.compile(re.escape(PART_PREFIX) + r"(\d+)-[0-9a-f]+" + re.escape(PART_SUFFIX))
#: Characters kept in a file name; anything else becomes `_`.
_UNSAFE = re.compile(r"[^\w.\- ()+,@=&#%!~\[\]]")

log = logging.getLogger(__name__)


class UploadTooLarge(Exception):
    """The upload grew past the size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload is larger than the limit of {limit:,} bytes ({limit / 1024**2:,.0f} MiB)")
        self.limit = limit


class UploadRefused(ValueError):
    """A file name or field value that cannot be accepted; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def sanitized_name(raw: str | None, suffixes: Iterable[str]) -> str:
    """A plain file name for the landing folder made from the client's `raw` name.

    Keeps the last part of a path (either separator), drops control characters and leading
    dots (no hidden files), replaces characters outside letters, digits and `.-_ ()+,@=&#%!~[]`
    by `_`, and shortens the stem so that the name of its sidecar (`<name>.json`) fits 255
    bytes. `UploadRefused` (field `filename`) when nothing is left or the name does not end
    in one of `suffixes`.
    """
    allowed = tuple(s.lower() for s in suffixes)
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(c for c in name if c.isprintable())
    name = _UNSAFE.sub("_", name).strip().lstrip(". ")
    if not name.lower().endswith(allowed):
        raise UploadRefused("filename", f"file name {(raw or '')[:100]!r} must end in one of {', '.join(allowed)}")
    suffix = name[name.rfind("."):]
    stem = name[: -len(suffix)]
    while len((stem + suffix + SIDECAR_SUFFIX).encode()) > MAX_NAME_BYTES:  # its sidecar's name must fit too
        stem = stem[:-1]
    name = stem.rstrip(" .") + suffix
    problem = landed_name_problem(name, allowed)
    if problem is not None or not stem.strip(" ._"):
        raise UploadRefused("filename", f"file name {(raw or '')[:100]!r} holds no usable name")
    return name


class UploadFile:
    """A temporary file in `folder` receiving one upload of at most `max_bytes`."""

    def __init__(self, folder: Path, max_bytes: int, label: str = "upload") -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.label = label
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.path = folder / f"{PART_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{PART_SUFFIX}"
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file = os.fdopen(descriptor, "wb", buffering=WRITE_BYTES)
        self._logged = 0

    def write(self, data: bytes) -> None:
        """Append `data`; `UploadTooLarge` (nothing written of it) past the limit."""
        if self.size + len(data) > self.max_bytes:
            raise UploadTooLarge(self.max_bytes)
        self._file.write(data)
        self.sha256.update(data)
        self.size += len(data)
        if self.size - self._logged >= PROGRESS_BYTES:
            self._logged = self.size
            log.info("%s: %s MiB received", self.label, f"{self.size / 1024**2:,.0f}")

    def land(self, name: str, sidecar: dict[str, Any] | None) -> Path:
        """Make the upload the landing folder's file `name`: flushed to disk, its sidecar
        (`<name>.json`) written first, or an earlier sidecar removed when there is none, then
        renamed into place. Returns the file's path."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sidecar_path = self.folder / f"{name}{SIDECAR_SUFFIX}"
        if sidecar:
            staged = self.folder / f"{PART_PREFIX}{os.getpid()}-{secrets.token_hex(8)}{PART_SUFFIX}"
            staged.write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
            os.replace(staged, sidecar_path)
        else:
            sidecar_path.unlink(missing_ok=True)
        target = self.folder / name
        os.replace(self.path, target)
        log.info("%s: landed as %s (%s bytes)", self.label, target, f"{self.size:,}")
        return target

    def discard(self) -> None:
        """Delete the temporary file (nothing of the upload stays)."""
        if not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def sweep_abandoned(folder: Path) -> list[Path]:
    """Delete the temporary upload files in `folder` whose process is gone; return them."""
    swept = []
    for path in folder.glob(f"{PART_PREFIX}*{PART_SUFFIX}") if folder.is_dir() else ():
        match = _PART_NAME.fullmatch(path.name)
        if match is None or _alive(int(match.group(1))):
            continue
        path.unlink(missing_ok=True)
        swept.append(path)
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
