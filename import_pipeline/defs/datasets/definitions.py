import dagster as dg

from import_pipeline.defs.datasets import assets, checks, schedules, sensors
from import_pipeline.defs.datasets.resources import DatasetFiles

defs = dg.Definitions(
    assets=[assets.staged_rows, assets.commits, assets.dataset_search],
    asset_checks=[checks.commit_rows_resolve],
    jobs=[assets.import_job, schedules.datasets_maintenance_job],
    schedules=[schedules.datasets_maintenance_schedule],
    sensors=[sensors.datasets_landing_sensor],
    resources={"dataset_files_folder": DatasetFiles()},
)
