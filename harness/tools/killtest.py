"""``harness killtest --points 50``: SIGKILL the child at random moments; nothing accepted is lost.

Each point draws a target — a corpus case, or a ``synthetic:`` stream that comes in bursts —
and audits it once in each mode. The child records the ``seq`` of every event whose emit has
returned (``VERITAS_IPC_SEQ_LOG``, test-only: a file write that survives the kill); at a
moment drawn uniformly over the target's duration (measured once, unkilled, from its first
event to its last) the child alone is killed with SIGKILL, as the OOM killer would. The point
passes when the parent delivered every recorded event, in ``seq`` order, once, and nothing
else but possibly the one event that was being emitted at the kill.

The killer needs the child's pid: it is the runner's direct child whose command line names the
point's own audit id.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from harness.corpus.cases import load_corpus
from harness.corpus.siteserver import serve_sites
from harness.tools.heldlogs import held_logs, replay
from veritas.child.faults import ENV as FAULT_ENV
from veritas.child.seqlog import ENV as SEQ_LOG_ENV
from veritas.child.seqlog import read_seq_log
from veritas.parent.collect import audit_timeout_for
from veritas.parent.mode import Mode
from veritas.parent.progress import Progress
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent

MODES: tuple[Mode, ...] = ("stdout", "queue")
#: Streams that come in bursts: small events, screenshots, and one burst from start to end.
SYNTHETIC = (
    "synthetic:?events=4000&rate=2000&burst=250",
    "synthetic:?events=120&payload=200000&rate=60&burst=20",
    "synthetic:?events=20000",
)
#: Share of the points drawn from SYNTHETIC (when there is a corpus to draw the rest from).
SYNTHETIC_SHARE = 0.4


@dataclass(frozen=True)
class Target:
    name: str
    url: str
    tier: str = "quick_scan"
    request_timeout: float = 30.0


def check(recorded: Sequence[int], delivered: Sequence[int]) -> dict[str, Any]:
    """Compare the child's record with what the parent delivered.

    Lost: a recorded event never delivered. Duplicated: a ``seq`` delivered more than once.
    Apart from those, the delivered stream must be the recorded one, possibly followed by the
    event being emitted when the child died (``put`` had not returned, so it is not recorded).
    """
    seen = set(delivered)
    lost = sum(1 for seq in recorded if seq not in seen)
    duplicated = len(delivered) - len(seen)
    n = len(recorded)
    problems = []
    if list(recorded) != list(range(n)):
        problems.append(f"the child's record is not 0..{n - 1}")
    if lost:
        first = next(seq for seq in recorded if seq not in seen)
        problems.append(f"{lost} recorded events never delivered (first: seq {first})")
    if duplicated:
        problems.append(f"{duplicated} events delivered twice")
    if not lost and not duplicated and list(delivered) not in (list(recorded), [*recorded, n]):
        problems.append(
            f"delivered {_span(delivered)}, recorded {_span(recorded)}: out of order or "
            "more than the one event being emitted"
        )
    return {
        "recorded": n,
        "delivered": len(delivered),
        "lost": lost,
        "duplicated": duplicated,
        "problems": problems,
    }


def _span(seqs: Sequence[int]) -> str:
    return f"{len(seqs)} events" + (f" ({seqs[0]}..{seqs[-1]})" if seqs else "")


def _child_of_this_process(audit_id: str) -> psutil.Process | None:
    for proc in psutil.Process().children():
        try:
            if audit_id in proc.cmdline():
                return proc
        except psutil.Error:
            continue
    return None


async def _killed_audit(
    target: Target, mode: Mode, fraction: float, duration: float, env: Mapping[str, str], tmp: Path
) -> dict[str, Any]:
    """Audit *target* in *mode*; SIGKILL the child *fraction* of *duration* after its first event."""
    audit_id = f"kill-{uuid.uuid4().hex[:10]}"
    log = tmp / f"{audit_id}.seq"
    runner = AuditRunner(
        target.url,
        tier=target.tier,
        mode=mode,
        timeout=audit_timeout_for(target.request_timeout),
        audit_id=audit_id,
        request_timeout=target.request_timeout,
        env={**env, SEQ_LOG_ENV: str(log)},
    )
    delivered: list[int] = []
    first = asyncio.Event()
    sent_kill = False

    async def send(event: ProgressEvent) -> None:
        delivered.append(event.seq)
        first.set()

    async def killer() -> None:
        nonlocal sent_kill
        await first.wait()
        child = await asyncio.to_thread(_child_of_this_process, audit_id)
        await asyncio.sleep(fraction * duration)
        if child is not None:
            try:
                child.send_signal(signal.SIGKILL)  # refuses a pid that was reused
                sent_kill = True
            except psutil.Error:
                pass  # it had already ended

    kill = asyncio.create_task(killer())
    try:
        outcome = await runner.run(send)
    finally:
        kill.cancel()
    recorded = read_seq_log(log) if log.exists() else []
    row = check(recorded, delivered)
    row.update(
        target=target.name,
        mode=mode,
        at=round(fraction, 3),
        killed=sent_kill and outcome.exit_code == -signal.SIGKILL,
        state=outcome.state,
        transport=outcome.attested_transport,
    )
    if mode == "queue" and delivered and outcome.attested_transport != "queue":
        row["problems"].append(f"Queue run delivered by {outcome.attested_transport}")
    row["ok"] = not row["problems"]
    return row


async def _duration(target: Target, env: Mapping[str, str]) -> float:
    """Seconds from the target's first event to its last, audited unkilled over stdout."""
    times: list[float] = []

    async def send(event: ProgressEvent) -> None:
        times.append(time.monotonic())

    runner = AuditRunner(
        target.url,
        tier=target.tier,
        mode="stdout",
        timeout=audit_timeout_for(target.request_timeout),
        request_timeout=target.request_timeout,
        env=env,
    )
    await runner.run(send)
    return times[-1] - times[0] if len(times) > 1 else 0.0


async def _campaign(
    targets: Sequence[Target],
    synthetic: Sequence[Target],
    points: int,
    seed: int,
    concurrency: int,
    tmp: Path,
    progress: Progress,
) -> dict[str, Any]:
    rng = random.Random(seed)
    drawn = [
        rng.choice(synthetic if not targets or rng.random() < SYNTHETIC_SHARE else targets)
        for _ in range(points)
    ]
    env = {k: v for k, v in os.environ.items() if k not in (FAULT_ENV, SEQ_LOG_ENV)}
    slots = asyncio.Semaphore(concurrency)
    unique = {t.name: t for t in drawn}
    progress.total = len(unique) + len(MODES) * points

    async def measure(target: Target) -> float:
        async with slots:
            with progress.step(f"{target.name} measured unkilled") as step:
                took = await _duration(target, env)
                step.result = f"{took:.2f}s from first event to last"
                return took

    durations = dict(
        zip(unique, await asyncio.gather(*(measure(t) for t in unique.values())), strict=True)
    )
    plan = [(t, mode, rng.random()) for t in drawn for mode in MODES]

    async def point(target: Target, mode: Mode, fraction: float) -> dict[str, Any]:
        async with slots:
            with progress.step(f"{target.name} {mode} killed at {fraction:.0%}") as step:
                row = await _killed_audit(target, mode, fraction, durations[target.name], env, tmp)
                step.result = (
                    f"{row['recorded']} recorded, {row['delivered']} delivered by "
                    f"{row['transport']}: "
                    + ("ok" if row["ok"] else "FAILED " + "; ".join(row["problems"]))
                )
        return row

    # The parent logs what it sees of each kill (a crash, a stream cut short); every one is
    # intended here, and each point's line says whether nothing accepted was lost.
    with held_logs() as held:
        rows = await asyncio.gather(*(point(*p) for p in plan))
    if not all(r["ok"] for r in rows):
        replay(held, progress)
    return {
        "points": points,
        "seed": seed,
        "targets": len(unique),
        "modes": {mode: _totals([r for r in rows if r["mode"] == mode]) for mode in MODES},
        "rows": list(rows),
    }


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "points": len(rows),
        "killed": sum(r["killed"] for r in rows),
        "recorded": sum(r["recorded"] for r in rows),
        "lost": sum(r["lost"] for r in rows),
        "duplicated": sum(r["duplicated"] for r in rows),
        "failed": sum(not r["ok"] for r in rows),
    }


def run_killtest(
    corpus_dir: Path | None,
    points: int,
    seed: int,
    *,
    synthetic: Sequence[str] = SYNTHETIC,
    concurrency: int = 2,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Kill *points* audits per mode; corpus cases from *corpus_dir* (None: synthetic only)."""
    progress = progress or Progress("harness killtest", enabled=False)
    streams = [Target(url.removeprefix("synthetic:?"), url) for url in synthetic]
    with tempfile.TemporaryDirectory(prefix="veritas-killtest-") as tmp:
        if corpus_dir is None:
            return asyncio.run(
                _campaign([], streams, points, seed, concurrency, Path(tmp), progress)
            )
        corpus = load_corpus([corpus_dir])
        with serve_sites(list(corpus.sites_dirs)) as server:
            cases = [
                Target(c.id, c.target_url(server) if c.site else c.target_url(), c.tier, c.timeout)
                for c in corpus.cases
            ]
            return asyncio.run(
                _campaign(cases, streams, points, seed, concurrency, Path(tmp), progress)
            )


def passed(result: dict[str, Any]) -> bool:
    return all(totals["failed"] == 0 for totals in result["modes"].values())


def table(result: dict[str, Any]) -> str:
    lines = [
        f"child SIGKILLed at {result['points']} random points per mode (seed {result['seed']}) "
        f"across {result['targets']} targets",
        f"{'mode':<8}{'points':>7}{'killed':>8}{'recorded':>10}{'lost':>7}{'duplicated':>12}"
        f"{'failed':>8}",
    ]
    for mode, t in result["modes"].items():
        lines.append(
            f"{mode:<8}{t['points']:>7}{t['killed']:>8}{t['recorded']:>10}{t['lost']:>7}"
            f"{t['duplicated']:>12}{t['failed']:>8}"
        )
    for r in result["rows"]:
        if not r["ok"]:
            lines.append(f"FAILED {r['mode']} {r['target']} at {r['at']:.0%}: {r['problems']}")
    return "\n".join(lines)
