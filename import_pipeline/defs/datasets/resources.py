"""Where dataset files land, and what each one asks for."""

import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from import_pipeline.load.datasets import DEFAULT_MAX_BYTES, ImportRequest
from import_pipeline.defs.landing import landing_folder

LANDING_ENV = "IMPORT_PIPELINE_DATASETS_DIR"
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")
SIDECAR_SUFFIX = ".json"
SIDECAR_KEYS = ("dataset", "description", "ref", "mode", "message", "author", "encoding", "has_header")


class DatasetFiles(dg.ConfigurableResource):
    """The datasets landing folder and the import settings of each file in it.

    A file `sales.csv` imports into the dataset `sales` unless a sidecar `sales.csv.json`
    says otherwise: `{"dataset": ..., "description": ..., "ref": "main", "mode": "replace" |
    "append", "message": ..., "author": ..., "encoding": ..., "has_header": true}`.
    """

    landing_dir: str | None = Field(default=None, description="Folder files are dropped into")
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, description="Largest file imported (bytes)")

    def folder(self) -> Path:
        """The landing folder (it may not exist yet)."""
        return landing_folder(self.landing_dir, LANDING_ENV, "datasets")

    def data_files(self) -> list[Path]:
        """The importable files in the landing folder, by name (hidden and sidecar files skipped)."""
        folder = self.folder()
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in DATA_SUFFIXES)

    def request(self, file_name: str) -> ImportRequest:
        """The import of landed file `file_name`; `dg.Failure` if it is gone or its sidecar is bad."""
        path = self.folder() / file_name
        if not path.is_file():
            raise dg.Failure(description=f"{path} does not exist (any more)")
        settings: dict = {}
        sidecar = path.with_name(path.name + SIDECAR_SUFFIX)
        if sidecar.is_file():
            try:
                settings = json.loads(sidecar.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise dg.Failure(description=f"{sidecar.name} is not valid JSON: {exc}") from None
            unknown = set(settings) - set(SIDECAR_KEYS)
            if unknown:
                raise dg.Failure(description=f"{sidecar.name}: unknown key(s) {', '.join(sorted(unknown))}; "
                                             f"known: {', '.join(SIDECAR_KEYS)}")
        settings.setdefault("dataset", path.stem)
        try:
            return ImportRequest(path=path, max_bytes=self.max_bytes, **settings)
        except (TypeError, ValueError) as exc:
            raise dg.Failure(description=f"{file_name}: {exc}") from None
