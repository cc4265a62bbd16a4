"""Where a stage's cohorts are read from: the metrics store of this machine, or a Prometheus
server that scrapes a fleet's backends (``harness.rollout.prometheus``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from harness.policy import load_rollout_policy
from harness.rollout.cohorts import CohortError, CohortReport, cohort_report, from_store
from harness.rollout.prometheus import from_prometheus
from veritas.parent.metrics import default_path


def observe(
    stage: float,
    since: dt.datetime | None,
    *,
    metrics: Path | None = None,
    prometheus: str | None = None,
    now: dt.datetime | None = None,
) -> CohortReport:
    """The cohort report of *stage* since *since*, from Prometheus at *prometheus* if given,
    else the metrics store at *metrics* (default: ``VERITAS_METRICS_DB`` or its default)."""
    rules = load_rollout_policy()
    if prometheus:
        if since is None:
            raise CohortError("--prometheus needs a start (--since, or a stage entered)")
        cohorts = from_prometheus(prometheus, since, now)
        source = f"Prometheus {prometheus}"
    else:
        path = metrics or default_path()
        cohorts = from_store(path, since)
        source = f"metrics store {path}"
    return cohort_report(
        cohorts, rules.cohorts[stage], rules.alpha, stage=stage, since=since, source=source
    )
