"""The datasets family's load procedure (no Dagster): `request` (what to import), `staging`
(the file's rows, resumable), `commit` (the commit and its ref, atomically), `state` (the
import's bookkeeping rows), `encoded` (what the parsing child process runs; it imports no
database driver, so nothing is imported here), `maintenance` (the search view, statistics)."""
