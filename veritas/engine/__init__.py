"""The Veritas audit engine: real, deterministic, rule-based audits in five phases.

``run_audit(url, tier, emit)`` is the whole public interface, the one every engine has (see
``veritas.child.engines``); ``audit.py`` gives the event order and
``veritas/state_schema.json`` the final state.
"""

from veritas.engine.audit import run_audit

__all__ = ["run_audit"]
