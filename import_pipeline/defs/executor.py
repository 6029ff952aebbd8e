"""Where the steps of every job run: in the run's own processes by default, or on Celery workers
(`IMPORT_PIPELINE_EXECUTOR=celery`, broker and result backend from `IMPORT_PIPELINE_CELERY_BROKER`
and `IMPORT_PIPELINE_CELERY_BACKEND`), the same code location either way."""

import os

import dagster as dg

#: The variable that picks the executor (`celery`, or unset for Dagster's default).
EXECUTOR_ENV = "IMPORT_PIPELINE_EXECUTOR"


@dg.definitions
def executor() -> dg.Definitions:
    """The executor of every job of the code location."""
    if os.environ.get(EXECUTOR_ENV, "").lower() != "celery":
        return dg.Definitions()
    from dagster_celery import celery_executor

    broker = os.environ.get("IMPORT_PIPELINE_CELERY_BROKER", "pyamqp://guest@127.0.0.1:5672//")
    backend = os.environ.get("IMPORT_PIPELINE_CELERY_BACKEND", "rpc://")
    return dg.Definitions(executor=celery_executor.configured({"broker": broker, "backend": backend}))
