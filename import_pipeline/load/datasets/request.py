"""Which file goes into which dataset, how, and the identity of that import."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from import_pipeline.sources.datasets.settings import SETTINGS_KEYS, validated_settings

DEFAULT_MAX_BYTES = 5 * 1024**3
#: The variable that sets the largest file imported (the landing folder's and the upload endpoint's limit).
MAX_BYTES_ENV = "IMPORT_PIPELINE_DATASETS_MAX_BYTES"


class FileTooLarge(ValueError):
    """The file exceeds the configured maximum size; nothing was read or written."""


@dataclass(frozen=True)
class ImportRequest:
    """Which file goes into which dataset, how, and who says so."""

    path: Path
    dataset: str
    ref: str = "main"
    mode: str = "replace"
    message: str | None = None
    author: str | None = None
    description: str | None = None
    encoding: str | None = None
    has_header: bool | None = None
    base_ref: str | None = None
    allow_empty: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        """Validate the settings by `ImportSettings`' rules: ValueError with one line naming the field."""
        validated_settings({name: getattr(self, name) for name in SETTINGS_KEYS})


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of the file at `path`, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def import_id_for(request: ImportRequest, sha256: str) -> str:
    """The id of importing this file into this dataset, ref and mode: the same on every retry."""
    key = "\0".join((request.dataset, request.ref, request.mode, sha256))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def check_size(request: ImportRequest) -> int:
    """The file's size; `FileTooLarge` when it exceeds `max_bytes` (checked before any work)."""
    size = request.path.stat().st_size
    if size > request.max_bytes:
        raise FileTooLarge(
            f"{request.path.name} is {size:,} bytes, more than the maximum of {request.max_bytes:,}; "
            "nothing was imported (raise max_bytes to import it)"
        )
    return size


def configured_max_bytes() -> int:
    """The largest file imported: `IMPORT_PIPELINE_DATASETS_MAX_BYTES` when set (bytes), else
    `DEFAULT_MAX_BYTES`. ValueError in one line when the variable is not a positive integer."""
    text = os.environ.get(MAX_BYTES_ENV)
    if text is None:
        return DEFAULT_MAX_BYTES
    if not text.strip().isdigit() or int(text) <= 0:
        raise ValueError(f"{MAX_BYTES_ENV}={text!r} is not a positive number of bytes")
    return int(text)
