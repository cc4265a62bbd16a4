"""Verdicts: one case's control (stdout) run, candidate (Queue) run and noise runs, judged.

* ``inconclusive`` — a run timed out, crashed or lost its browser (renderer fallback); the control runs differ among themselves
  (noise); the Queue run is not attested (its events did not all come over the Queue) unless
  the case is a failover case; the stdout run did not use stdout.
* ``mismatch`` — the Queue run reported an IPC fault, or its normalized stream differs.
* ``ignored`` — equal only once the case's named ignore rules are applied.
* ``match`` — equal after normalization alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.compare import Difference, canonical_digest, first_difference
from harness.normalize import Normalizer
from harness.observation import Observation

VERDICTS = ("match", "ignored", "mismatch", "inconclusive")
FINAL_REF = "<final state: see final>"


class IgnoreRuleLike(Protocol):
    @property
    def name(self) -> str: ...

    def apply(self, doc: Any) -> tuple[Any, int]: ...


@dataclass
class Judgement:
    verdict: str
    reasons: list[str] = field(default_factory=list)
    difference: Difference | None = None
    ignored_by: list[str] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    normalization: dict[str, int] = field(default_factory=dict)
    compare_seconds: float = 0.0
    #: The two runs the difference is between: stdout and queue, or stdout and a noise run.
    compared: tuple[str, str] = ("stdout", "queue")

    @property
    def first_difference(self) -> str | None:
        return self.difference.describe() if self.difference else None


def subject(obs: Observation, normalizer: Normalizer) -> dict[str, Any]:
    """What is compared: normalized events, the final state once (not twice)."""
    events = normalizer.events(obs.events)
    for event in events:
        if event["type"] == "audit_complete":
            event["summary"] = FINAL_REF
    return {"events": events, "final": normalizer.value(obs.final_state)}


def _masked(
    doc: dict[str, Any], rules: Sequence[IgnoreRuleLike]
) -> tuple[dict[str, Any], list[str]]:
    used = []
    for rule in rules:
        doc, count = rule.apply(doc)
        if count:
            used.append(rule.name)
    return doc, used


def _diff(left: dict[str, Any], right: dict[str, Any]) -> Difference | None:
    a = [*left["events"], {"type": "final", "phase": "complete", "final": left["final"]}]
    b = [*right["events"], {"type": "final", "phase": "complete", "final": right["final"]}]
    diff = first_difference(a, b)
    if diff is not None:
        diff.lengths = (len(left["events"]), len(right["events"]))
    return diff


def _run_problems(name: str, obs: Observation) -> list[str]:
    problems = []
    if obs.state == "timeout":
        problems.append(f"{name} run timed out")
    elif obs.state == "crashed":
        problems.append(f"{name} run crashed (exit code {obs.outcome.get('exit_code')})")
    fallbacks = [e["detail"] for e in obs.events if e["step"] == "renderer_fallback"]
    if fallbacks:  # the machine, not the transport: Chromium failed and Pillow drew instead
        problems.append(
            f"{name} run: Chromium failed for {len(fallbacks)} screenshots ({fallbacks[0]})"
        )
    return problems


def judge(
    control: Observation,
    candidate: Observation,
    noise: Sequence[Observation] = (),
    rules: Sequence[IgnoreRuleLike] = (),
    *,
    failover_case: bool = False,
) -> Judgement:
    started = time.perf_counter()
    normalizer = Normalizer()
    result = _judge(control, candidate, noise, rules, failover_case, normalizer)
    result.normalization = dict(normalizer.counts)
    result.compare_seconds = time.perf_counter() - started
    return result


def _judge(
    control: Observation,
    candidate: Observation,
    noise: Sequence[Observation],
    rules: Sequence[IgnoreRuleLike],
    failover_case: bool,
    normalizer: Normalizer,
) -> Judgement:
    faults = candidate.outcome.get("ipc_faults") or []
    if faults:
        return Judgement("mismatch", [f"Queue run IPC fault: {f}" for f in faults])
    problems = _run_problems("stdout", control) + _run_problems("queue", candidate)
    for i, obs in enumerate(noise, 1):
        problems += _run_problems(f"noise #{i}", obs)
    if control.attested_transport != "stdout":
        problems.append(f"stdout run delivered over {control.attested_transport}")
    if failover_case and not candidate.outcome.get("fallback"):
        problems.append("failover case: the Queue run did not fail over")
    if candidate.attested_transport != "queue" and not failover_case:
        problems.append(
            f"Queue run not attested: events by transport {candidate.outcome['events_by_transport']}"
        )
    if problems:
        return Judgement("inconclusive", problems)

    base = subject(control, normalizer)
    other = subject(candidate, normalizer)
    digests = {"stdout": canonical_digest(base), "queue": canonical_digest(other)}
    masked_base, _ = _masked(base, rules)
    for i, obs in enumerate(noise, 1):
        extra = subject(obs, normalizer)
        digests[f"noise-{i}"] = canonical_digest(extra)
        if digests[f"noise-{i}"] == digests["stdout"]:
            continue
        masked_extra, _ = _masked(extra, rules)
        if canonical_digest(masked_extra) != canonical_digest(masked_base):
            diff = _diff(masked_base, masked_extra)
            return Judgement(
                "inconclusive",
                [f"noise: stdout runs differ from each other (control vs noise #{i})"],
                diff,
                digests=digests,
                compared=("stdout", f"noise-{i}"),
            )
    if digests["queue"] == digests["stdout"]:
        return Judgement("match", digests=digests)
    masked_other, used_other = _masked(other, rules)
    _, used_base = _masked(base, rules)
    if rules and canonical_digest(masked_other) == canonical_digest(masked_base):
        used = sorted(set(used_other) | set(used_base))
        return Judgement(
            "ignored",
            [f"equal once ignore rules {used} are applied"],
            ignored_by=used,
            digests=digests,
        )
    diff = _diff(masked_base, masked_other) if rules else _diff(base, other)
    return Judgement("mismatch", ["Queue stream differs from stdout stream"], diff, digests=digests)


def judge_pair(control: Observation, candidate: Observation) -> Judgement:
    """Compare one stdout run with one Queue run (``veritas audit --validate-ipc``)."""
    return judge(control, candidate)
