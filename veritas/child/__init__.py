"""What runs in the audit child: the entry point, the emitter, the Queue sender, test faults.

Standard library (and ``veritas.protocol``) only: the engine is imported by name at run time,
so the child's own code never depends on what it audits with.
"""
