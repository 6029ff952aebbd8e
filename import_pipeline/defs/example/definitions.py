import dagster as dg

from import_pipeline.defs.example import assets

defs = dg.Definitions(assets=[assets.stations, assets.readings, assets.station_summary])
