"""The Veritas audit engine: real, deterministic, rule-based audits in five phases.

``run_audit(url, tier, sink)`` is the whole public interface; see ``audit.py`` for the event
order and ``veritas/state_schema.json`` for the final state.
"""

from veritas.engine.audit import run_audit

__all__ = ["run_audit"]
