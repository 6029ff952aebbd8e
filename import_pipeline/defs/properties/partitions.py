import dagster as dg

from import_pipeline.sources.properties.municipalities import municipality_names

#: One partition per municipality of the shared list (the 40 around Copenhagen).
municipalities = dg.StaticPartitionsDefinition(municipality_names())
