"""Loading: readers of the input formats, the loader, re-embedding, stats and the load service."""
