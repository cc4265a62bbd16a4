"""``harness failover --points 50``: sever the Queue at random points across the corpus.

For each point (a corpus case and an event count *k*, drawn from a seeded generator) the case
is audited in Queue mode with the Queue cut after *k* events (``VERITAS_IPC_FAULT=sever@k``),
so the child must fail over to stdout mid-stream. The point passes when:

* the audit ends as its stdout-only audit ends, with the same verdict rules as a stage run
  (the streams are judged equal after normalization);
* ``seq`` runs 0..n-1 with no gap or repeat, exactly *k* events came over the Queue and the
  rest over stdout;
* the metrics database records the fallback and its reason.

The stdout-only audit of each drawn case runs once and serves all of its points.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.corpus.cases import Case, Corpus, load_corpus
from harness.corpus.siteserver import serve_sites
from harness.tools.heldlogs import held_logs, replay
from veritas.diff.observation import Observation, observe
from veritas.diff.verdict import judge
from veritas.parent.collect import audit_timeout_for, collect
from veritas.parent.metrics import MetricsStore
from veritas.parent.mode import Mode
from veritas.parent.progress import Progress
from veritas.parent.runner import AuditRunner


async def _audit(
    case: Case, url: str, mode: Mode, env: Mapping[str, str], metrics: MetricsStore | None
) -> Observation:
    runner = AuditRunner(
        url,
        tier=case.tier,
        mode=mode,
        timeout=audit_timeout_for(case.timeout),
        audit_id=case.id,
        request_timeout=case.timeout,
        env=env,
        metrics=metrics,
    )
    audit = await collect(runner)
    return observe(audit.outcome, audit.events)


def _check(case: Case, k: int, control: Observation, cut: Observation) -> dict[str, Any]:
    n = len(control.events)
    verdict = judge(control, cut, [], case.ignore, failover_case=True)
    seqs = [e["seq"] for e in cut.events]
    by = cut.outcome["events_by_transport"]
    problems = []
    if verdict.verdict not in ("match", "ignored"):
        problems.append(f"verdict {verdict.verdict}: {'; '.join(verdict.reasons[:2])}")
    if seqs != list(range(len(seqs))):
        problems.append("seq has a gap, a repeat or is out of order")
    if len(seqs) != n:
        problems.append(f"{len(seqs)} events, the stdout-only audit had {n}")
    if (by["queue"], by["stdout"]) != (k, n - k):
        problems.append(f"transports {by}, expected queue {k} and stdout {n - k}")
    expected_runs = [r for r in (["queue", 0, k], ["stdout", k, n - k]) if r[2]]
    if cut.outcome["transport_runs"] != expected_runs:
        problems.append(f"transport runs {cut.outcome['transport_runs']}, expected {expected_runs}")
    if cut.outcome["replayed"] or cut.outcome["ipc_faults"]:
        problems.append(
            f"{cut.outcome['replayed']} events came twice, IPC faults {cut.outcome['ipc_faults']}"
        )
    if not cut.outcome["fallback"]:
        problems.append("no fallback recorded in the outcome")
    if problems:  # enough to tell a lost event from an audit that went another way
        if verdict.first_difference:
            problems.append(verdict.first_difference.replace("\n", "; "))
        last = cut.events[-1] if cut.events else {}
        problems.append(
            f"cut run: state {cut.state}, exit code {cut.outcome.get('exit_code')}, last event "
            f"{last.get('type')} {last.get('step')!r}; stdout-only run's last event "
            f"{control.events[-1]['type'] if control.events else None}"
        )
    return {
        "case": case.id,
        "k": k,
        "events": n,
        "verdict": verdict.verdict,
        "queue_events": by["queue"],
        "stdout_events": by["stdout"],
        "ok": not problems,
        "problems": problems,
    }


async def _campaign(
    corpus: Corpus, points: int, seed: int, concurrency: int, tmp: Path, progress: Progress
) -> dict[str, Any]:
    cases = list(corpus.cases)
    rng = random.Random(seed)
    drawn = [rng.choice(cases) for _ in range(points)]
    unique = {c.id: c for c in drawn}
    progress.total = len(unique) + points
    slots = asyncio.Semaphore(concurrency)
    base_env = {k: v for k, v in os.environ.items() if k != "VERITAS_IPC_FAULT"}
    metrics = MetricsStore(tmp / "metrics.db")
    with serve_sites(list(corpus.sites_dirs)) as server:
        urls = {c.id: c.target_url(server) if c.site else c.target_url() for c in cases}

        async def control(case: Case) -> Observation:
            async with slots:
                with progress.step(f"{case.id} control (stdout only)") as step:
                    observed = await _audit(case, urls[case.id], "stdout", base_env, None)
                    step.result = f"{len(observed.events)} events"
                    return observed

        observed = await asyncio.gather(*(control(c) for c in unique.values()))
        controls = dict(zip(unique, observed, strict=True))
        ks = [rng.randrange(max(1, len(controls[c.id].events))) for c in drawn]

        async def point(case: Case, k: int) -> dict[str, Any]:
            env = {**base_env, "VERITAS_IPC_FAULT": f"sever@{k}"}
            async with slots:
                n = len(controls[case.id].events)
                with progress.step(f"{case.id} sever@{k} of {n} events") as step:
                    cut = await _audit(case, urls[case.id], "queue", env, metrics)
                    row = _check(case, k, controls[case.id], cut)
                    step.result = (
                        f"failed over as expected, {row['queue_events']} + "
                        f"{row['stdout_events']} events, {row['verdict']}"
                        if row["ok"]
                        else "FAILED " + "; ".join(row["problems"])
                    )
            return row

        # The parent logs each failover it sees; here every one is injected, and each
        # point's line says whether it was handled as it must be.
        with held_logs() as held:
            rows = await asyncio.gather(*(point(c, k) for c, k in zip(drawn, ks, strict=True)))
        if not all(r["ok"] for r in rows):
            replay(held, progress)
    recorded = [r for r in metrics.rows() if r["fallback"]]
    reasons_ok = sum(
        f"severed after {rec['events_queue']} events" in (rec["fallback_reason"] or "")
        for rec in recorded
    )
    return {
        "points": points,
        "seed": seed,
        "cases": len(unique),
        "ok": sum(r["ok"] for r in rows),
        "metrics_fallbacks": len(recorded),
        "metrics_reasons_ok": reasons_ok,
        "rows": rows,
    }


def run_failover(
    corpus_dir: Path,
    points: int,
    seed: int,
    concurrency: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    progress = progress or Progress("harness failover", enabled=False)
    corpus = load_corpus([corpus_dir])
    with tempfile.TemporaryDirectory(prefix="veritas-failover-") as tmp:
        return asyncio.run(_campaign(corpus, points, seed, concurrency, Path(tmp), progress))


def passed(result: dict[str, Any]) -> bool:
    n = result["points"]
    return bool(
        result["ok"] == n and result["metrics_fallbacks"] == n == result["metrics_reasons_ok"]
    )


def table(result: dict[str, Any]) -> str:
    lines = [
        f"Queue severed at {result['points']} random points (seed {result['seed']}) "
        f"across {result['cases']} corpus cases",
        f"{'case':<32}{'cut at':>7}{'events':>8}{'queue':>7}{'stdout':>8}  verdict",
    ]
    for r in sorted(result["rows"], key=lambda r: (r["case"], r["k"])):
        lines.append(
            f"{r['case']:<32}{r['k']:>7}{r['events']:>8}{r['queue_events']:>7}"
            f"{r['stdout_events']:>8}  {r['verdict']}{'' if r['ok'] else '  FAILED'}"
        )
    lines.append(
        f"points passed: {result['ok']}/{result['points']}; metrics recorded "
        f"{result['metrics_fallbacks']} fallbacks, {result['metrics_reasons_ok']} with the "
        "severing reason"
    )
    return "\n".join(lines)
