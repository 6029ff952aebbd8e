"""Where Discogs dumps land."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from import_pipeline.defs.landing import landing_folder
from import_pipeline.landing import LandingPathError, landed_file

LANDING_ENV = "IMPORT_PIPELINE_DISCOGS_DIR"
SUFFIXES = (".xml.gz", ".xml")


class DiscogsFiles(dg.ConfigurableResource):
    """The landing folder of the dumps, `discogs_YYYYMMDD_<type>.xml.gz` (or `.xml`).

    With no `landing_dir`, `IMPORT_PIPELINE_DISCOGS_DIR` is used, else
    `<IMPORT_PIPELINE_HOME>/landing/discogs`.
    """

    landing_dir: str | None = Field(default=None, description="Folder the dumps are dropped into")

    def folder(self) -> Path:
        """The landing folder (it may not exist yet)."""
        return landing_folder(self.landing_dir, LANDING_ENV, "discogs")

    def dump(self, dump_date: str, dump_type: str) -> Path:
        """The dump of `dump_type` for `dump_date` (YYYYMMDD): the `.xml.gz` file, else the `.xml`
        one; `dg.Failure` in one line when there is none or its name leads out of the folder."""
        folder = self.folder()
        for suffix in SUFFIXES:
            name = f"discogs_{dump_date}_{dump_type}{suffix}"
            if (folder / name).exists():
                try:
                    return landed_file(folder, name, SUFFIXES)
                except LandingPathError as exc:
                    raise dg.Failure(description=str(exc)) from None
        raise dg.Failure(description=f"no discogs_{dump_date}_{dump_type}.xml.gz in {folder} (or set {LANDING_ENV})")


@dg.definitions
def discogs_resources() -> dg.Definitions:
    """The `discogs_files` resource: where the dumps land."""
    return dg.Definitions(resources={"discogs_files": DiscogsFiles()})
