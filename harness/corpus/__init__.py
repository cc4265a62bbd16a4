"""The corpus: case files, site sidecars and the site server."""
