import dagster as dg

from import_pipeline.defs.gamedata import assets, sensors
from import_pipeline.defs.gamedata.resources import GamedataFiles

defs = dg.Definitions(
    assets=[assets.gamedata_dump, assets.perks, assets.symbiants],
    jobs=[assets.dump_job, assets.extras_job],
    sensors=[sensors.gamedata_landing_sensor],
    resources={"gamedata_files": GamedataFiles()},
)
