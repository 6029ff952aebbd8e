"""A sensor on the discogs landing folder: each new, fully written dump file starts its type's import.

A file is taken once its size and modification time were the same on two ticks in a row
(a download still running is left alone). Its date becomes a partition; the run imports
that type's documents and then its graph, keyed by the file's name, mtime and size.
"""

import dagster as dg

from import_pipeline.defs.discogs.assets import GRAPHS, import_job, key
from import_pipeline.defs.discogs.partitions import DUMP_DATES
from import_pipeline.defs.discogs.resources import SUFFIXES, DiscogsFiles
from import_pipeline.defs.landing import LandingCursor
from import_pipeline.landing import is_landed_file
from import_pipeline.sources.discogs.dump import dump_name_parts


@dg.sensor(
    job=import_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts a discogs import for each dump file dropped into the landing folder",
)
def discogs_landing_sensor(context: dg.SensorEvaluationContext, discogs_files: DiscogsFiles):
    folder = discogs_files.folder()
    if not folder.is_dir():
        return dg.SkipReason(f"{folder} does not exist yet")
    cursor = LandingCursor(context.cursor)
    run_requests = []
    dates: set[str] = set()
    for path in sorted(folder.iterdir()):
        parts = dump_name_parts(path.name)
        if parts is None or not is_landed_file(folder, path.name, SUFFIXES):
            continue
        signature = cursor.observe(path)
        if signature is None:
            continue
        dump_date, dump_type = parts
        dates.add(dump_date)
        run_requests.append(dg.RunRequest(
            run_key=cursor.run_key(path.name, signature),
            partition_key=dump_date,
            asset_selection=[key(dump_type), key(GRAPHS[dump_type])],
            tags={"import_pipeline/source_file": str(path)},
        ))
        cursor.mark_requested(path.name, signature)
    known = set(context.instance.get_dynamic_partitions(DUMP_DATES))
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[dg.AddDynamicPartitionsRequest(DUMP_DATES, sorted(dates - known))]
        if dates - known else [],
        cursor=cursor.to_json(),
    )
