"""A sensor on the gamedata landing folder: a new or changed file starts its import.

A file is imported once its size and modification time were the same on two ticks in a
row (so a file still being copied is left alone), and once per version: the run key is
the file's name, mtime and size. Perks and symbiants link to items, so while a dump is
being imported (or about to be) their runs wait for a later tick.
"""

import dagster as dg

from import_pipeline.defs.gamedata.assets import dump_job, extras_job, key
from import_pipeline.defs.gamedata.resources import DUMP_FILES, PERKS_FILE, SYMBIANTS_FILE, GamedataFiles
from import_pipeline.defs.landing import LandingCursor
from import_pipeline.landing import is_landed_file

EXTRAS = {PERKS_FILE: key("perks"), SYMBIANTS_FILE: key("symbiants")}
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


@dg.sensor(
    jobs=[dump_job, extras_job],
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts gamedata imports for files dropped into the landing folder",
)
def gamedata_landing_sensor(context: dg.SensorEvaluationContext, gamedata_files: GamedataFiles):
    folder = gamedata_files.folder()
    if not folder.is_dir():
        return dg.SkipReason(f"{folder} does not exist yet")
    cursor = LandingCursor(context.cursor)
    ready: dict[str, list[int]] = {}
    for name in [*DUMP_FILES.values(), *EXTRAS]:
        path = folder / name
        if is_landed_file(folder, name) and (signature := cursor.observe(path)) is not None:
            ready[name] = signature

    run_requests = []
    for kind, name in DUMP_FILES.items():
        if name in ready:
            run_requests.append(dg.RunRequest(
                run_key=cursor.run_key(name, ready[name]),
                job_name=dump_job.name,
                partition_key=kind,
                tags={"import_pipeline/source_file": str(folder / name)},
            ))
            cursor.mark_requested(name, ready[name])
    dump_pending = bool(run_requests) or any(cursor.pending(name) for name in DUMP_FILES.values()) or bool(
        context.instance.get_run_ids(dg.RunsFilter(job_name=dump_job.name, statuses=ACTIVE), limit=1))
    for name, asset_key in EXTRAS.items():
        if name in ready and not dump_pending:
            run_requests.append(dg.RunRequest(
                run_key=cursor.run_key(name, ready[name]),
                job_name=extras_job.name,
                asset_selection=[asset_key],
                tags={"import_pipeline/source_file": str(folder / name)},
            ))
            cursor.mark_requested(name, ready[name])
    return dg.SensorResult(run_requests=run_requests, cursor=cursor.to_json())
