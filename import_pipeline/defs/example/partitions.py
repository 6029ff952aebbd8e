import dagster as dg

regions = dg.StaticPartitionsDefinition(["north", "south", "east"])
