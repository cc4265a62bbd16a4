"""Running one corpus case: stdout and Queue concurrently, then the noise runs; judged.

Runs in the pytest process that owns the item (an xdist worker, or the only process). The
result is a ``CaseResult``, whose plain form (``to_dict``) travels to the controller through
``workeroutput``. Artifacts of a non-matching case (both streams around the divergence, the
screenshots that differ and their diff images) are written under ``artifact_dir``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.corpus.cases import Case
from harness.report.result import (
    Artifacts,
    ArtifactScreenshot,
    AuditSeconds,
    CaseResult,
    CaseRuns,
    CaseTiming,
    FirstDifference,
    IgnoreRuleUse,
    Latency,
    RunSummary,
    ScreenshotDigests,
    TransportRun,
)
from veritas.child.engines import BUNDLED_ENGINE
from veritas.diff import compare
from veritas.diff.normalize import Normalizer
from veritas.diff.observation import Observation, observe
from veritas.diff.pixeldiff import pixel_diff
from veritas.diff.verdict import Judgement, judge
from veritas.parent.collect import audit_timeout_for, collect
from veritas.parent.mode import Mode
from veritas.parent.runner import AuditRunner

if TYPE_CHECKING:
    from harness.plugin.backend import Backend

CONTEXT_EVENTS = 3  # events kept on each side of the first divergence
FAILOVER_AT = 50  # a failover case's Queue run is cut after this many events
WS_MARGIN_S = 30.0  # a WebSocket client waits this much longer than the audit's own limit


@dataclass(frozen=True)
class RunSettings:
    noise_runs: int = 1
    audit_timeout: float | None = None
    env: Mapping[str, str] | None = None
    engine: str = BUNDLED_ENGINE
    #: Re-run every case's control, not only those whose streams differ.
    eager_noise: bool = False
    #: With a backend, each run goes through it and a WebSocket client (``--through ws``).
    backend: Backend | None = None


def safe_name(text: str, limit: int = 60) -> str:
    """A file name from site-derived text: never a path, never empty, collision-resistant."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:limit] or "item"
    return f"{stem}-{sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


async def _observe(case: Case, url: str, mode: Mode, settings: RunSettings) -> Observation:
    env = dict(os.environ if settings.env is None else settings.env)
    if case.failover and mode == "queue":
        env.setdefault("VERITAS_IPC_FAULT", f"sever@{FAILOVER_AT}")
    timeout = settings.audit_timeout or audit_timeout_for(case.timeout)
    if settings.backend is not None:
        return await _observe_through_ws(case, url, mode, settings.backend, env, timeout)
    runner = AuditRunner(
        url,
        tier=case.tier,
        mode=mode,
        timeout=timeout,
        audit_id=case.id,  # one id for every run of the case: the streams must be identical
        request_timeout=case.timeout,
        env=env,
        engine=settings.engine,
    )
    audit = await collect(runner)
    return observe(audit.outcome, audit.events)


async def _observe_through_ws(
    case: Case, url: str, mode: Mode, backend: Backend, env: Mapping[str, str], timeout: float
) -> Observation:
    """The run as a browser's WebSocket client receives it from the backend (which runs the
    audit in its own environment: a fault asked for this run goes as the start's ``fault``)."""
    body: dict[str, Any] = {
        "url": url,
        "tier": case.tier,
        "ipc": mode,
        "audit_id": case.id,  # as through the runner: one id for every run of the case
        "request_timeout": case.timeout,
        "timeout": timeout,
    }
    fault = env.get("VERITAS_IPC_FAULT")
    if fault and fault != os.environ.get("VERITAS_IPC_FAULT"):
        body["fault"] = fault
    outcome, events = await backend.run(body, timeout + WS_MARGIN_S)
    return observe(outcome, events)


async def _pair(case: Case, url: str, settings: RunSettings) -> tuple[Observation, Observation]:
    """The stdout run and the Queue run of *case*, concurrently."""
    control, candidate = await asyncio.gather(
        _observe(case, url, "stdout", settings), _observe(case, url, "queue", settings)
    )
    return control, candidate


async def _noise(case: Case, url: str, settings: RunSettings) -> list[Observation]:
    """The control's re-runs (stdout), concurrently."""
    return list(
        await asyncio.gather(
            *(_observe(case, url, "stdout", settings) for _ in range(settings.noise_runs))
        )
    )


def _judge_with_noise(
    case: Case, url: str, settings: RunSettings, control: Observation, candidate: Observation
) -> tuple[Judgement, list[Observation], str]:
    """The verdict, the noise runs it needed and why they were (not) made.

    The control is re-run only when the Queue's stream differs from stdout's once the case's
    ignore rules apply (a preliminary ``mismatch``): only then can noise change the verdict,
    to ``inconclusive``. A case whose two streams agree is decided without them.
    ``--eager-noise`` re-runs every case's control, as a check of that reasoning.
    """
    rules, failover = case.ignore, case.failover
    if settings.noise_runs and settings.eager_noise:
        noise = asyncio.run(_noise(case, url, settings))
        return judge(control, candidate, noise, rules, failover_case=failover), noise, "eager"
    first = judge(control, candidate, [], rules, failover_case=failover)
    if not settings.noise_runs:
        return first, [], "none asked (--noise-runs 0)"
    if first.verdict != "mismatch":
        return first, [], f"not needed: without them the verdict is {first.verdict}"
    noise = asyncio.run(_noise(case, url, settings))
    why = "the Queue stream differs from stdout: the control re-ran to tell noise from a fault"
    return judge(control, candidate, noise, rules, failover_case=failover), noise, why


def run_case(case: Case, url: str, settings: RunSettings, artifact_dir: Path) -> CaseResult:
    started = time.perf_counter()
    control, candidate = asyncio.run(_pair(case, url, settings))
    deepdiff_before = compare.DEEPDIFF_CALLS
    verdict, noise, noise_why = _judge_with_noise(case, url, settings, control, candidate)
    deepdiff_calls = compare.DEEPDIFF_CALLS - deepdiff_before
    artifacts = None
    if verdict.verdict not in ("match", "ignored"):
        runs = {"stdout": control, "queue": candidate}
        runs.update({f"noise-{i}": n for i, n in enumerate(noise, 1)})
        left, right = verdict.compared
        artifacts = write_artifacts(
            artifact_dir / safe_name(case.id), (left, runs[left]), (right, runs[right]), verdict
        )
    timing = CaseTiming(
        audit_s=AuditSeconds(
            stdout=round(control.outcome["duration_s"], 3),
            queue=round(candidate.outcome["duration_s"], 3),
            noise=round(sum(n.outcome["duration_s"] for n in noise), 3),
        ),
        digest_s=round(sum(o.digest_seconds for o in (control, candidate, *noise)), 4),
        compare_s=round(verdict.compare_seconds, 4),
        deepdiff_calls=deepdiff_calls,
        wall_s=round(time.perf_counter() - started, 3),
    )
    return CaseResult(
        id=case.id,
        tier=case.tier,
        tags=list(case.tags),
        failover=case.failover,
        url=url,
        verdict=verdict.verdict,
        reasons=verdict.reasons,
        ignored_by=verdict.ignored_by,
        ignore_rules=[IgnoreRuleUse.from_dict(rule) for rule in verdict.ignore_rules],
        masked_differences=verdict.masked_differences,
        first_difference=(
            FirstDifference.from_dict(verdict.difference.to_dict()) if verdict.difference else None
        ),
        first_difference_text=verdict.first_difference,
        runs=CaseRuns(
            stdout=run_summary(control),
            queue=run_summary(candidate),
            noise=[run_summary(n) for n in noise],
            noise_why=noise_why,
        ),
        screenshots=ScreenshotDigests(stdout=control.screenshots, queue=candidate.screenshots),
        digests=verdict.digests,
        normalization=verdict.normalization,
        timing=timing,
        artifacts=artifacts,
    )


def run_summary(obs: Observation) -> RunSummary:
    """What the report keeps of one run's outcome (the rest stays with the observation)."""
    outcome = obs.outcome
    return RunSummary(
        state=outcome["state"],
        mode_requested=outcome["mode_requested"],
        mode_used=outcome["mode_used"],
        attested_transport=outcome["attested_transport"],
        events=outcome["events"],
        events_by_transport=outcome["events_by_transport"],
        transport_runs=[TransportRun(*run) for run in outcome["transport_runs"]],
        fallback=outcome["fallback"],
        fallback_reason=outcome["fallback_reason"],
        exit_code=outcome["exit_code"],
        duration_s=round(outcome["duration_s"], 3),
        ipc_faults=outcome["ipc_faults"],
        malformed_lines=outcome["malformed_lines"],
        latency=Latency.from_dict(outcome["latency"]),
        stderr_tail=outcome["stderr_tail"][-5:],
    )


def write_artifacts(
    where: Path,
    left: tuple[str, Observation],
    right: tuple[str, Observation],
    verdict: Judgement,
) -> Artifacts:
    """Both streams around the divergence, and every differing screenshot with a diff image."""
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    normalizer = Normalizer()
    index = verdict.difference.index if verdict.difference else 0
    lo = max(0, index - CONTEXT_EVENTS)
    events_files = []
    for name, obs in (left, right):
        window = normalizer.events(obs.events)[lo : index + CONTEXT_EVENTS + 1]
        path = where / f"{name}-events.json"
        # ASCII JSON, so a lone surrogate or a control character is written as its escape.
        path.write_text(
            json.dumps(
                {"run": name, "first_index": lo, "events": window},
                indent=1,
                ensure_ascii=True,
                default=repr,
            ),
            encoding="ascii",
        )
        events_files.append(path.name)
    (lname, lobs), (rname, robs) = left, right
    shots = []
    for label in sorted(set(lobs.screenshots) | set(robs.screenshots)):
        if lobs.screenshots.get(label) == robs.screenshots.get(label):
            continue
        stem = safe_name(label)
        files: dict[str, str | None] = {"left": None, "right": None, "diff": None}
        for side, name, obs in (("left", lname, lobs), ("right", rname, robs)):
            if label in obs.images:
                (where / f"{stem}-{name}.png").write_bytes(obs.images[label])
                files[side] = f"{stem}-{name}.png"
        note: str | None = None
        bbox: list[int] | None = None
        compared = False
        if label in lobs.images and label in robs.images:
            try:
                diff = pixel_diff(lobs.images[label], robs.images[label])
            except ValueError as exc:
                note = str(exc)
            else:
                note, compared = diff.describe(), True
                bbox = list(diff.bbox) if diff.bbox else None
                if diff.diff_png is not None:
                    (where / f"{stem}-diff.png").write_bytes(diff.diff_png)
                    files["diff"] = f"{stem}-diff.png"
        shots.append(
            ArtifactScreenshot(
                label=label,
                left=files["left"],
                right=files["right"],
                diff=files["diff"],
                note=note,
                compared=compared,
                bbox=bbox,
            )
        )
    return Artifacts(
        dir=where.name,
        sides=[lname, rname],
        screenshots=shots,
        left_events=events_files[0],
        right_events=events_files[1],
    )
