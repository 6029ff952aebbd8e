import dagster as dg

from import_pipeline.defs.gamedata import assets, checks, sensors
from import_pipeline.defs.gamedata.resources import GamedataFiles

defs = dg.Definitions(
    assets=[assets.gamedata_dump, assets.perks, assets.symbiants],
    asset_checks=[checks.no_orphan_rows, checks.indexes_and_foreign_keys_in_force],
    jobs=[assets.dump_job, assets.extras_job],
    sensors=[sensors.gamedata_landing_sensor],
    resources={"gamedata_files": GamedataFiles()},
)
