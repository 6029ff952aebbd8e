"""The code location: everything under `defs/`, found by Dagster (`dg.load_from_defs_folder`)."""

from pathlib import Path

import dagster as dg

#: The folder of `pyproject.toml`, whose `[tool.dg]` names `import_pipeline.defs`.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    """Every asset, check, job, sensor, schedule and resource defined in `import_pipeline.defs`."""
    return dg.load_from_defs_folder(project_root=PROJECT_ROOT)
