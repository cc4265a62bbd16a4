"""Verdicts: one case's control (stdout) run, candidate (Queue) run and noise runs, judged.

* ``inconclusive`` — a run timed out, crashed or lost its browser (renderer fallback); the control runs differ among themselves
  (noise); the Queue run is not attested (its events did not all come over the Queue) unless
  the case is a failover case; the stdout run did not use stdout; the screenshots differ
  because the captures differed in the child (its own pixel digest, taken before the event
  reached any transport, differs between the runs), not because a transport changed them.
* ``mismatch`` — the Queue run reported an IPC fault, delivered a screenshot whose pixels
  differ from the child's own digest of it, or its normalized stream differs.
* ``ignored`` — equal only once the case's named ignore rules are applied.
* ``match`` — equal after normalization alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from veritas.diff.compare import Difference, canonical_digest, exact_paths, first_difference
from veritas.diff.normalize import Normalizer
from veritas.diff.observation import Observation

VERDICTS = ("match", "ignored", "mismatch", "inconclusive")
FINAL_REF = "<final state: see final>"


class IgnoreRuleLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def reason(self) -> str: ...

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
    #: For an ``ignored`` case: each rule, its reason and how many values it masked per run.
    ignore_rules: list[dict[str, Any]] = field(default_factory=list)
    #: For an ``ignored`` case: the differences the rules masked, both values side by side.
    masked_differences: list[dict[str, Any]] = field(default_factory=list)

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
) -> tuple[dict[str, Any], dict[str, int]]:
    """*doc* with every rule applied, and how many values each rule masked."""
    counts = {}
    for rule in rules:
        doc, counts[rule.name] = rule.apply(doc)
    return doc, counts


def _screenshot_claims(obs: Observation) -> list[tuple[str, str | None, str | None]]:
    """(label, the child's own pixel digest, the delivered pixels' digest) per screenshot."""
    claims = []
    for event in obs.events:
        if event["type"] != "screenshot" or not isinstance(event["data"], dict):
            continue
        summary = event["summary"] if isinstance(event["summary"], dict) else {}
        claimed = summary.get("digest")
        label = str(summary.get("label") or f"seq-{event['seq']}")
        delivered = event["data"].get("pixel_digest")
        claims.append((label, claimed if isinstance(claimed, str) else None, delivered))
    return claims


def _changed_in_transit(name: str, obs: Observation) -> list[str]:
    return [
        f"{name} run: screenshot {label!r} arrived with other pixels than the child captured "
        f"(child's digest {claimed[:19]}…, delivered {str(delivered)[:19]}…)"
        for label, claimed, delivered in _screenshot_claims(obs)
        if claimed is not None and claimed.startswith("sha256:") and claimed != delivered
    ]


def _diverged_captures(left: Observation, right: Observation) -> dict[str, str]:
    """Digest -> placeholder for every screenshot the child captured differently in two runs.

    Only screenshots whose delivered pixels match the child's own digest in both runs count:
    their difference happened before any transport saw them.
    """
    a = {
        label: claimed
        for label, claimed, delivered in _screenshot_claims(left)
        if claimed == delivered
    }
    b = {
        label: claimed
        for label, claimed, delivered in _screenshot_claims(right)
        if claimed == delivered
    }
    tokens: dict[str, str] = {}
    for label in sorted(set(a) & set(b)):
        left_digest, right_digest = a[label], b[label]
        if left_digest and right_digest and left_digest != right_digest:
            tokens[left_digest] = tokens[right_digest] = f"<capture diverged: {label}>"
    return tokens


def _replace_values(value: Any, tokens: dict[str, str]) -> Any:
    """*value* with every string equal to a key of *tokens* replaced by its token."""
    if isinstance(value, str):
        return tokens.get(value, value)
    if isinstance(value, dict):
        return {k: _replace_values(v, tokens) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_values(v, tokens) for v in value]
    return value


def _only_captures_differ(
    left: Observation, right: Observation, a: dict[str, Any], b: dict[str, Any]
) -> list[str]:
    """The labels of diverged captures if they alone make *a* and *b* differ, else []."""
    tokens = _diverged_captures(left, right)
    if not tokens:
        return []
    if canonical_digest(_replace_values(a, tokens)) != canonical_digest(_replace_values(b, tokens)):
        return []
    return sorted({t[len("<capture diverged: ") : -1] for t in tokens.values()})


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
    altered = _changed_in_transit("Queue", candidate)
    if altered:
        base, other = subject(control, normalizer), subject(candidate, normalizer)
        return Judgement(
            "mismatch",
            altered,
            _diff(base, other),
            digests={"stdout": canonical_digest(base), "queue": canonical_digest(other)},
        )
    problems = _run_problems("stdout", control) + _run_problems("queue", candidate)
    for i, obs in enumerate(noise, 1):
        problems += _run_problems(f"noise #{i}", obs)
    problems += _changed_in_transit("stdout", control)
    for i, obs in enumerate(noise, 1):
        problems += _changed_in_transit(f"noise #{i}", obs)
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
            captures = _only_captures_differ(control, obs, masked_base, masked_extra)
            what = (
                f"the screenshot captures diverged in the child ({', '.join(captures)})"
                if captures
                else "stdout runs differ from each other"
            )
            return Judgement(
                "inconclusive",
                [f"noise: {what} (control vs noise #{i})"],
                diff,
                digests=digests,
                compared=("stdout", f"noise-{i}"),
            )
    if digests["queue"] == digests["stdout"]:
        return Judgement("match", digests=digests)
    masked_other, counts_other = _masked(other, rules)
    _, counts_base = _masked(base, rules)
    if rules and canonical_digest(masked_other) == canonical_digest(masked_base):
        used = sorted(n for n in counts_base if counts_base[n] or counts_other[n])
        return Judgement(
            "ignored",
            [f"equal once ignore rules {used} are applied"],
            ignored_by=used,
            digests=digests,
            ignore_rules=[
                {
                    "name": rule.name,
                    "reason": rule.reason,
                    "masked": {"stdout": counts_base[rule.name], "queue": counts_other[rule.name]},
                }
                for rule in rules
            ],
            masked_differences=_masked_differences(base, other),
        )
    captures = _only_captures_differ(control, candidate, masked_base, masked_other)
    if captures:
        return Judgement(
            "inconclusive",
            [
                "the screenshot captures diverged in the child, before any transport "
                f"(its own pixel digests differ between the runs): {', '.join(captures)}"
            ],
            _diff(masked_base, masked_other),
            digests=digests,
        )
    diff = _diff(masked_base, masked_other) if rules else _diff(base, other)
    return Judgement("mismatch", ["Queue stream differs from stdout stream"], diff, digests=digests)


def _masked_differences(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to 10 of the differences between two unmasked subjects, both values side by side."""
    found: list[dict[str, Any]] = []
    a = [*left["events"], {"type": "final", "final": left["final"]}]
    b = [*right["events"], {"type": "final", "final": right["final"]}]
    for index in range(max(len(a), len(b))):
        if len(found) >= 10:
            break
        x = a[index] if index < len(a) else None
        y = b[index] if index < len(b) else None
        found += exact_paths(x, y, f"events[{index}]")
    return found[:10]


def judge_pair(control: Observation, candidate: Observation) -> Judgement:
    """Compare one stdout run with one Queue run (``veritas audit --validate-ipc``).

    Two failed audits prove little: each side delivered an error, not an audit. That is
    ``inconclusive`` here (a corpus case may expect a failure; a URL given by hand does not).
    """
    result = judge(control, candidate)
    if result.verdict == "match" and control.state == "failed" and candidate.state == "failed":
        errors = {str(o.outcome.get("error") or "?") for o in (control, candidate)}
        return Judgement(
            "inconclusive",
            [f"both audits failed ({'; '.join(sorted(errors))}): there was no audit to compare"],
            digests=result.digests,
        )
    return result
