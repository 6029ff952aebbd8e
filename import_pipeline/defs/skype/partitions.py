import dagster as dg

#: The name of the dynamic partitions: one per export file dropped into the skype landing folder.
SKYPE_EXPORTS = "skype_exports"
#: One partition per export file (its file name).
skype_exports = dg.DynamicPartitionsDefinition(name=SKYPE_EXPORTS)
