"""The discogs family's load procedures: dump documents as a merge stream, and the graph."""
