"""Where dataset files land, and what each one asks for."""

import json
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from import_pipeline.defs.landing import landing_folder
from import_pipeline.landing import LandingPathError, is_landed_file, landed_file, landed_name_problem
from import_pipeline.load.datasets.request import DEFAULT_MAX_BYTES, MAX_BYTES_ENV, ImportRequest, configured_max_bytes
from import_pipeline.sources.datasets.settings import validated_settings

LANDING_ENV = "IMPORT_PIPELINE_DATASETS_DIR"
DATA_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")
SIDECAR_SUFFIX = ".json"


class DatasetFiles(dg.ConfigurableResource):
    """The datasets landing folder and the import settings of each file in it.

    A file `sales.csv` imports into the dataset `sales` unless a sidecar `sales.csv.json`
    says otherwise with the keys of `ImportSettings` (`dataset`, `ref`, `mode`, ...).
    """

    landing_dir: str | None = Field(default=None, description="Folder files are dropped into")
    max_bytes: int | None = Field(default=None, description="Largest file imported (bytes); default: "
                                  f"${MAX_BYTES_ENV}, else {DEFAULT_MAX_BYTES:,}")

    def folder(self) -> Path:
        """The landing folder (it may not exist yet)."""
        return landing_folder(self.landing_dir, LANDING_ENV, "datasets")

    def data_files(self) -> list[Path]:
        """The importable files in the landing folder, by name: hidden files, sidecars, other
        suffixes and anything that is not a regular file inside the folder are skipped."""
        folder = self.folder()
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir()
                      if not p.name.startswith(".") and is_landed_file(folder, p.name, DATA_SUFFIXES))

    def request(self, file_name: str) -> ImportRequest:
        """The import of landed file `file_name` (a partition key), as its sidecar asks.

        `dg.Failure` with one line when the name does not resolve to a data file inside the
        landing folder, or the sidecar is not valid JSON or breaks the `ImportSettings` rules.
        """
        folder = self.folder()
        try:
            path = landed_file(folder, file_name, DATA_SUFFIXES)
        except LandingPathError as exc:
            raise dg.Failure(description=f"partition {file_name[:300]!r}: {exc}") from None
        settings: dict[str, Any] = {}
        sidecar_name = file_name + SIDECAR_SUFFIX
        told_by = file_name
        if landed_name_problem(sidecar_name) is None and (folder / sidecar_name).exists():
            try:
                sidecar = landed_file(folder, sidecar_name, (SIDECAR_SUFFIX,))
                settings = json.loads(sidecar.read_bytes())
                told_by = sidecar_name
            except LandingPathError as exc:
                raise dg.Failure(description=f"sidecar of {file_name}: {exc}") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise dg.Failure(description=f"{sidecar_name} is not valid JSON: {exc}") from None
            if not isinstance(settings, dict):
                raise dg.Failure(description=f"{sidecar_name}: expected a JSON object, got {type(settings).__name__}")
        settings.setdefault("dataset", path.stem)
        try:
            validated_settings(settings)
        except ValueError as exc:
            raise dg.Failure(description=f"{told_by}: {exc}") from None
        return ImportRequest(path=path, max_bytes=self.max_bytes or configured_max_bytes(), **settings)


@dg.definitions
def datasets_resources() -> dg.Definitions:
    """The `dataset_files_folder` resource: where dataset files land, and their size limit."""
    return dg.Definitions(resources={"dataset_files_folder": DatasetFiles()})
