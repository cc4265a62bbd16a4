"""``harness cohorts --simulate``: the cohort statistics on seeded simulated production.

Each scenario draws *draws* pairs of cohorts (failures and fallbacks binomial, per-audit event
latency p99 log-normal) and runs the gate's own comparison (``harness.rollout.cohorts.compare``)
under the first stage's policy. It shows what a verdict is worth: how often equal cohorts FAIL
(must be at most alpha), how often a Queue that fails twice as often is caught at the policy's
sample size, and that below it the answer is INCONCLUSIVE, never PASS.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from harness.policy import load_rollout_policy
from harness.rollout.cohorts import ModeCohort, compare
from veritas.parent.mode import STAGES
from veritas.parent.outcome import percentile

LATENCY_MEDIAN_MS = 5.0
LATENCY_SIGMA = 0.5


@dataclass(frozen=True)
class Scenario:
    name: str
    #: audits per mode, as a multiple of the policy's minimum (or absolute when below 1)
    audits: int
    stdout_failure: float
    queue_failure: float
    queue_fallback: float = 0.005
    queue_latency_factor: float = 1.0


def scenarios(minimum: int) -> list[Scenario]:
    return [
        Scenario("equal rates (5%)", minimum, 0.05, 0.05),
        Scenario("equal rates (1%)", minimum, 0.01, 0.01),
        Scenario("equal rates (5%), 4× the minimum", 4 * minimum, 0.05, 0.05),
        Scenario("Queue fails 2× (10% vs 5%)", minimum, 0.05, 0.10),
        Scenario("Queue fails 2× (10% vs 5%), 2× the minimum", 2 * minimum, 0.05, 0.10),
        Scenario("Queue fails 2× (2% vs 1%: excess at the margin)", minimum, 0.01, 0.02),
        Scenario("Queue fails 3× (3% vs 1%)", minimum, 0.01, 0.03),
        Scenario("Queue falls back 4% (max 2%)", minimum, 0.05, 0.05, queue_fallback=0.04),
        Scenario("Queue latency 2× slower", minimum, 0.05, 0.05, queue_latency_factor=2.0),
        Scenario("tiny: 50 per mode, equal rates", 50, 0.05, 0.05),
        Scenario("tiny: 50 per mode, Queue fails 2×", 50, 0.05, 0.10),
        Scenario("just below the minimum, Queue fails 2×", minimum - 1, 0.05, 0.10),
    ]


def _cohort(
    rng: Any, mode: str, n: int, failure: float, fallback: float, factor: float
) -> ModeCohort:
    lat = (rng.lognormal(0.0, LATENCY_SIGMA, n) * LATENCY_MEDIAN_MS * factor).tolist()
    fallbacks = int(rng.binomial(n, fallback)) if mode == "queue" else 0
    return ModeCohort(
        mode,
        audits=n,
        failures=int(rng.binomial(n, failure)),
        fallbacks={"put timed out": fallbacks} if fallbacks else {},
        latency_samples_ms=lat,
        latency_p99_ms=percentile(lat, 99),
    )


def run_simulation(draws: int, seed: int) -> dict[str, Any]:
    import numpy as np

    rules = load_rollout_policy()
    policy = rules.cohorts[STAGES[0]]
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    rows = []
    for sc in scenarios(policy.min_audits_per_mode):
        overall = {"PASS": 0, "FAIL": 0, "INCONCLUSIVE": 0}
        failed_metric: dict[str, int] = {}
        for _ in range(draws):
            cohorts = {
                "queue": _cohort(
                    rng,
                    "queue",
                    sc.audits,
                    sc.queue_failure,
                    sc.queue_fallback,
                    sc.queue_latency_factor,
                ),
                "stdout": _cohort(rng, "stdout", sc.audits, sc.stdout_failure, 0.0, 1.0),
            }
            metrics = compare(cohorts, policy, rules.alpha)
            verdicts = {m.verdict for m in metrics}
            v = (
                "FAIL"
                if "FAIL" in verdicts
                else ("INCONCLUSIVE" if "INCONCLUSIVE" in verdicts else "PASS")
            )
            overall[v] += 1
            for m in metrics:
                if m.verdict == "FAIL":
                    failed_metric[m.metric] = failed_metric.get(m.metric, 0) + 1
        rows.append(
            {
                "scenario": sc.name,
                "audits_per_mode": sc.audits,
                "stdout_failure_rate": sc.stdout_failure,
                "queue_failure_rate": sc.queue_failure,
                "queue_fallback_rate": sc.queue_fallback,
                "queue_latency_factor": sc.queue_latency_factor,
                **{v.lower(): round(n / draws, 4) for v, n in overall.items()},
                "fail_by_metric": {
                    k: round(n / draws, 4) for k, n in sorted(failed_metric.items())
                },
            }
        )
    return {
        "draws": draws,
        "seed": seed,
        "alpha": rules.alpha,
        "policy": {
            "stage": policy.stage,
            "min_audits_per_mode": policy.min_audits_per_mode,
            "max_fallback_rate": policy.max_fallback_rate,
            "max_failure_rate_excess": policy.max_failure_rate_excess,
            "max_latency_p99_ratio": policy.max_latency_p99_ratio,
        },
        "rows": rows,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def table(result: dict[str, Any]) -> str:
    p = result["policy"]
    lines = [
        f"cohort verdicts over {result['draws']} seeded draws per row (seed {result['seed']}); "
        f"alpha {result['alpha']}, stage {p['stage']:g} policy: min {p['min_audits_per_mode']} "
        f"audits per mode, failure excess <= {p['max_failure_rate_excess']}, fallback <= "
        f"{p['max_fallback_rate']}, latency p99 ratio <= {p['max_latency_p99_ratio']}",
        "",
        "| scenario | audits per mode | PASS | FAIL | INCONCLUSIVE | FAIL by metric |",
        "|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        by = ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["fail_by_metric"].items()) or "-"
        lines.append(
            f"| {r['scenario']} | {r['audits_per_mode']} | {100 * r['pass']:.1f}% | "
            f"{100 * r['fail']:.1f}% | {100 * r['inconclusive']:.1f}% | {by} |"
        )
    return "\n".join(lines)
