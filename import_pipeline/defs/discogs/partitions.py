import dagster as dg

#: The name of the dynamic partitions: one per dump date (YYYYMMDD) found in the landing folder.
DUMP_DATES = "discogs_dump_dates"
#: One partition per monthly dump. The type is the asset (discogs/releases, ...): a type
#: dimension as well would give each asset three partitions per date it can never hold.
dump_dates = dg.DynamicPartitionsDefinition(name=DUMP_DATES)
