"""The datasets upload endpoint: files streamed over HTTP into the datasets landing folder."""
