"""A sensor on the skype landing folder: each new or changed export becomes a partition and a run.

An export is taken once its size and mtime held still between two ticks (a download still
running is left alone); the run key is its name, mtime and size.
"""

import dagster as dg

from import_pipeline.defs.landing import LandingCursor
from import_pipeline.defs.skype.assets import import_job
from import_pipeline.defs.skype.partitions import SKYPE_EXPORTS, skype_exports
from import_pipeline.defs.skype.resources import SkypeFiles


@dg.sensor(
    job=import_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Imports Skype exports dropped into the landing folder",
)
def skype_landing_sensor(context: dg.SensorEvaluationContext, skype_files: SkypeFiles):
    folder = skype_files.folder()
    if not folder.is_dir():
        return dg.SkipReason(f"{folder} does not exist yet")
    cursor = LandingCursor(context.cursor)
    run_requests = []
    ready = []
    for path in skype_files.exports():
        signature = cursor.observe(path)
        if signature is None:
            continue
        ready.append(path.name)
        run_requests.append(dg.RunRequest(run_key=cursor.run_key(path.name, signature), partition_key=path.name,
                                          tags={"import_pipeline/source_file": str(path)}))
        cursor.mark_requested(path.name, signature)
    new_keys = sorted(set(ready) - set(context.instance.get_dynamic_partitions(SKYPE_EXPORTS)))
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[skype_exports.build_add_request(new_keys)] if new_keys else [],
        cursor=cursor.to_json(),
    )
