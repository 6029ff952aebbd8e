"""A job the Celery test hands to workers by reference (workers rebuild it by importing this module)."""

import dagster as dg

from import_pipeline.definitions import defs


def skype_import_job() -> dg.JobDefinition:
    """The code location's `skype_import_job`, with the executor `IMPORT_PIPELINE_EXECUTOR` picks."""
    return defs().resolve_job_def("skype_import_job")
