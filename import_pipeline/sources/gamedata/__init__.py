"""Anarchy Online game dumps: items.json / nanos.json (JSON arrays), perks.json, symbiants.csv."""
