"""Veritas: website audits in a child process, reporting progress over stdout or a Queue."""

__version__ = "0.1.0"
