"""The code location: everything under `defs/`, found by Dagster's component tree."""

import warnings
from importlib import import_module
from pathlib import Path

import dagster as dg

#: The folder that holds the `import_pipeline` package: the checkout, or site-packages.
PACKAGE_PARENT = Path(__file__).resolve().parent.parent


@dg.definitions
def defs() -> dg.Definitions:
    """Every asset, check, job, sensor, schedule and resource defined in `import_pipeline.defs`.

    The tree is built from the package itself. `dg.load_from_defs_folder` would look for
    `pyproject.toml`'s `[tool.dg]` above the package, which an installed copy (`pip install .`,
    a container image) does not have. Like it, the load keeps Dagster's preview and beta
    notices (about its own loaders, and partitioned checks) out of every process's log.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        defs_module = import_module("import_pipeline.defs")
        return dg.ComponentTree.from_module(defs_module=defs_module, project_root=PACKAGE_PARENT).build_defs()
