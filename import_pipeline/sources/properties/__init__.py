"""The property API: a paced, retrying HTTP client, the search crawl, and document rows."""
