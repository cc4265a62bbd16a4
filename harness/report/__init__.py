"""The stage report: writing it, checking it, its gate, provenance, summary and review page."""
