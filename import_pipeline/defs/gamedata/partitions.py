import dagster as dg

from import_pipeline.load.gamedata.dump import KINDS

#: One partition per dump file: items.json and nanos.json.
dump_kinds = dg.StaticPartitionsDefinition(list(KINDS))
