"""Where Skype exports land."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from import_pipeline.defs.landing import landing_folder
from import_pipeline.landing import LandingPathError, is_landed_file, landed_file

LANDING_ENV = "IMPORT_PIPELINE_SKYPE_DIR"
SUFFIXES = (".json", ".tar")


class SkypeFiles(dg.ConfigurableResource):
    """The landing folder of the exports: `messages.json` files or export `.tar` archives.

    With no `landing_dir`, `IMPORT_PIPELINE_SKYPE_DIR` is used, else
    `<IMPORT_PIPELINE_HOME>/landing/skype`.
    """

    landing_dir: str | None = Field(default=None, description="Folder the exports are dropped into")

    def folder(self) -> Path:
        """The landing folder (it may not exist yet)."""
        return landing_folder(self.landing_dir, LANDING_ENV, "skype")

    def exports(self) -> list[Path]:
        """The export files in the landing folder, by name."""
        folder = self.folder()
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if is_landed_file(folder, p.name, SUFFIXES))

    def path(self, name: str) -> Path:
        """The export `name`; `dg.Failure` in one line when it is missing or leads out of the folder."""
        folder = self.folder()
        try:
            return landed_file(folder, name, SUFFIXES)
        except LandingPathError as exc:
            raise dg.Failure(description=str(exc)) from None


@dg.definitions
def skype_resources() -> dg.Definitions:
    """The `skype_files` resource: where the exports land."""
    return dg.Definitions(resources={"skype_files": SkypeFiles()})
