"""The pytest plugin: options, collection, xdist plumbing and one case run."""
