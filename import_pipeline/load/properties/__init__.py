"""The properties crawl's load procedures: search results, address details and cases into `properties`."""
