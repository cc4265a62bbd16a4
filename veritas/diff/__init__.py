"""Observation, normalization, masking, comparison and verdicts: pytest-free, shared by
``veritas audit --validate-ipc`` and the harness."""
