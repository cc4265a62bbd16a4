"""The rollout as production sees it: the stage from the ledger, and the production audits of
that stage (``veritas rollout status`` and the backend's ``/api/rollout/status`` show the same).

The stage is the ledger's (``VERITAS_LEDGER``, else ``reports/ROLLOUT.jsonl``); where the
environment's ``QUEUE_IPC_ROLLOUT`` says otherwise, the figures say so. Only production audits
count (validation runs are recorded with ``purpose: validation``), and only those since the
stage was entered.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

from veritas.parent.ledger import LEDGER, LedgerError, ledger_dir, rollout_state
from veritas.parent.metrics import MetricsStore
from veritas.parent.mode import parse_rollout


def rollout_figures(store: MetricsStore, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if env is None else env
    environment_stage = parse_rollout(env)
    directory = ledger_dir(env)
    figures: dict[str, Any] = {
        "stage": environment_stage,
        "stage_from": "QUEUE_IPC_ROLLOUT",
        "entered": None,
        "halted": False,
        "halt": None,
        "environment_stage": environment_stage,
        "disagreement": None,
        "ledger": str(directory / LEDGER),
        "ledger_problem": None,
    }
    since: dt.datetime | None = None
    try:
        state = rollout_state(directory)
    except LedgerError as exc:
        figures["ledger_problem"] = str(exc)
    else:
        if state.stage is not None:
            since = state.since
            figures.update(
                stage=state.stage,
                stage_from="ledger",
                entered=since.isoformat(timespec="seconds") if since else None,
                halted=state.halt is not None,
                halt=(
                    {k: state.halt.get(k) for k in ("at", "by", "reason")} if state.halt else None
                ),
            )
            if environment_stage != state.stage:
                figures["disagreement"] = (
                    f"the ledger says stage {state.stage:g}, but QUEUE_IPC_ROLLOUT gives "
                    f"{environment_stage:g}: set QUEUE_IPC_ROLLOUT={state.stage:g}"
                )
    figures["window"] = {
        "purpose": "production",
        "since": since.isoformat(timespec="seconds") if since else None,
    }
    figures.update(store.status(purpose="production", since=since.timestamp() if since else None))
    return figures
