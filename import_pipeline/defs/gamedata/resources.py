"""Where gamedata source files land."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from import_pipeline.defs.landing import landing_folder
from import_pipeline.landing import LandingPathError, landed_file

LANDING_ENV = "IMPORT_PIPELINE_GAMEDATA_DIR"
DUMP_FILES = {"items": "items.json", "nanos": "nanos.json"}
PERKS_FILE = "perks.json"
SYMBIANTS_FILE = "symbiants.csv"


class GamedataFiles(dg.ConfigurableResource):
    """The landing folder of the gamedata files: items.json, nanos.json, perks.json, symbiants.csv.

    With no `landing_dir`, `IMPORT_PIPELINE_GAMEDATA_DIR` is used, else
    `<IMPORT_PIPELINE_HOME>/landing/gamedata`.
    """

    landing_dir: str | None = Field(default=None, description="Folder the game files are dropped into")

    def folder(self) -> Path:
        """The landing folder (it may not exist yet)."""
        return landing_folder(self.landing_dir, LANDING_ENV, "gamedata")

    def path(self, name: str) -> Path:
        """The path of file `name` in the landing folder; `dg.Failure` with a readable message if it
        is missing, or is not a regular file inside the folder (a symlink out of it, say)."""
        folder = self.folder()
        if not (folder / name).exists():
            raise dg.Failure(
                description=f"{folder / name} does not exist: drop {name} into {folder} (or set {LANDING_ENV})")
        try:
            return landed_file(folder, name)
        except LandingPathError as exc:
            raise dg.Failure(description=str(exc)) from None


@dg.definitions
def gamedata_resources() -> dg.Definitions:
    """The `gamedata_files` resource: where the game files land."""
    return dg.Definitions(resources={"gamedata_files": GamedataFiles()})
