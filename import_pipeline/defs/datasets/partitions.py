import dagster as dg

#: The name of the dynamic partitions: one per file dropped into the datasets landing folder.
DATASET_FILES = "dataset_files"
#: One partition per file dropped into the datasets landing folder (its file name).
dataset_files = dg.DynamicPartitionsDefinition(name=DATASET_FILES)
