import dagster as dg

#: One partition per file dropped into the datasets landing folder (its file name).
dataset_files = dg.DynamicPartitionsDefinition(name="dataset_files")
