"""Discogs monthly XML dumps: records split from the stream, converted to JSON documents."""
