from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge correctness, not speed: a loaded machine (CI, -n 2 beside Chromium)
# must not fail them for drawing examples slowly.
settings.register_profile("veritas", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("veritas")


@pytest.fixture(autouse=True)
def _private_metrics_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes metrics to its own database, never to the user's."""
    path = tmp_path / "metrics.sqlite3"
    monkeypatch.setenv("VERITAS_METRICS_DB", str(path))
    # (`harness` sets VERITAS_AUDIT_PURPOSE for its audits; undone after each test.)
    for name in (
        "QUEUE_IPC_MODE",
        "QUEUE_IPC_ROLLOUT",
        "VERITAS_IPC_FAULT",
        "VERITAS_AUDIT_PURPOSE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("VERITAS_IPC_SEQ_LOG", raising=False)  # the kill test's record
    # The rollout ledger the auditor reads: none, unless a test writes one here.
    monkeypatch.setenv("VERITAS_LEDGER", str(tmp_path / "ledger" / "ROLLOUT.jsonl"))
    return path
