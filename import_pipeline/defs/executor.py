"""Where the steps of every job run: in the run's own processes by default, on Celery workers
(`IMPORT_PIPELINE_EXECUTOR=celery`, broker and result backend from `IMPORT_PIPELINE_CELERY_BROKER`
and `IMPORT_PIPELINE_CELERY_BACKEND`), or in a Kubernetes pod per step
(`IMPORT_PIPELINE_EXECUTOR=k8s`, configured like the run launcher of `deploy/k8s/dagster.yaml`);
the same code location in every case."""

import os

import dagster as dg

#: The variable that picks the executor (`celery`, `k8s`, or unset for Dagster's default).
EXECUTOR_ENV = "IMPORT_PIPELINE_EXECUTOR"


@dg.definitions
def executor() -> dg.Definitions:
    """The executor of every job of the code location; an unknown name is an error, not the default."""
    name = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if name == "":
        return dg.Definitions()
    if name == "celery":
        from dagster_celery import celery_executor

        broker = os.environ.get("IMPORT_PIPELINE_CELERY_BROKER", "pyamqp://guest@127.0.0.1:5672//")
        backend = os.environ.get("IMPORT_PIPELINE_CELERY_BACKEND", "rpc://")
        return dg.Definitions(executor=celery_executor.configured({"broker": broker, "backend": backend}))
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return dg.Definitions(executor=k8s_job_executor)
    raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected celery, k8s or nothing")
