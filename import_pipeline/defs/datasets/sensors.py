"""A sensor on the datasets landing folder: each new or changed file becomes a partition and a run.

A file is picked up once its size and modification time held still between two ticks (a
file still being copied is left alone). Its partition is its file name; the run key is
name, mtime and size, so each version of a file is imported once. Re-dropping a file with
the same content runs, finds its commit in place and creates none.
"""

import dagster as dg

from import_pipeline.defs.datasets.assets import import_job
from import_pipeline.defs.datasets.partitions import DATASET_FILES, dataset_files
from import_pipeline.defs.datasets.resources import DatasetFiles
from import_pipeline.defs.landing import LandingCursor


@dg.sensor(
    job=import_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Imports files dropped into the datasets landing folder",
)
def datasets_landing_sensor(context: dg.SensorEvaluationContext, dataset_files_folder: DatasetFiles):
    folder = dataset_files_folder.folder()
    if not folder.is_dir():
        return dg.SkipReason(f"{folder} does not exist yet")
    cursor = LandingCursor(context.cursor)
    ready = {}
    for path in dataset_files_folder.data_files():
        signature = cursor.observe(path)
        if signature is not None:
            ready[path.name] = signature
    existing = set(context.instance.get_dynamic_partitions(DATASET_FILES))
    new_keys = [name for name in ready if name not in existing]
    run_requests = []
    for name, signature in ready.items():
        run_requests.append(dg.RunRequest(run_key=cursor.run_key(name, signature), partition_key=name,
                                          tags={"import_pipeline/source_file": str(folder / name)}))
        cursor.mark_requested(name, signature)
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[dataset_files.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor.to_json(),
    )
