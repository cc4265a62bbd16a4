"""``harness bench ipc``: stdout mode, Queue mode and a raw pipe, side by side in one run.

Each transport moves the same synthetic stream (``veritas.engine.synthetic``) from a child process to
an async ``send`` in the parent, ``repeats`` times, interleaved so that machine noise hits all
of them alike; medians are reported, with the spread (lowest and highest) across repeats.
Throughput is measured from the first event's emit time to the last event's delivery (process
start-up excluded); latency is emit → ``send`` per event.

With ``peers=True`` the same interleaved run adds the peers of ``benchpeers`` (the
batched-socket floor, ``multiprocessing.Queue``, pyzmq PUSH/PULL per event and batched) and
every transport's ratio to the floor.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import pickle
import statistics
import subprocess
import sys
import threading
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

from harness.tools.benchclock import Clock, Sample
from harness.tools.benchpeers import PEERS, ZMQ_PEERS, run_peer, zmq_available
from veritas.parent.outcome import percentile
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import ProgressEvent

MODES = ("stdout", "queue", "pipe")
PAYLOADS = {"small": 0, "screenshot": 200_000}
ROOT = Path(__file__).resolve().parents[2]


def stream_url(events: int, payload: str, rate: float) -> str:
    url = f"synthetic:?events={events}&payload={PAYLOADS[payload]}"
    return url + (f"&rate={rate:g}" if rate else "")


async def _run_transport(mode: str, url: str) -> Sample:
    clock = Clock()
    outcome = await AuditRunner(url, mode=mode, audit_id="bench", timeout=600).run(clock.send)  # type: ignore[arg-type]
    if outcome.state != "completed":
        raise RuntimeError(f"{mode} run ended {outcome.state}: {outcome.stderr_tail[-3:]}")
    return clock.sample(outcome.attested_transport)


async def _run_pipe(url: str) -> Sample:
    clock = Clock()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
    authkey = os.urandom(32)
    listener = Listener(authkey=authkey)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [sys.executable, "-P", "-m", "harness.tools.pipechild", url], stdin=subprocess.PIPE, env=env
    )
    assert proc.stdin is not None
    proc.stdin.write(
        json.dumps({"address": listener.address, "authkey": authkey.hex()}).encode() + b"\n"
    )
    proc.stdin.close()

    def read() -> None:
        with listener.accept() as conn:
            while (message := conn.recv_bytes()) != b"E":
                loop.call_soon_threadsafe(inbox.put_nowait, ProgressEvent(*pickle.loads(message)))
        loop.call_soon_threadsafe(inbox.put_nowait, None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while (event := await inbox.get()) is not None:
        await clock.send(event)
    await asyncio.to_thread(proc.wait)
    listener.close()
    return clock.sample("pipe")


def _run(mode: str, url: str) -> Sample:
    if mode == "pipe":
        return asyncio.run(_run_pipe(url))
    if mode in PEERS:
        return asyncio.run(run_peer(mode, url))
    return asyncio.run(_run_transport(mode, url))


def _spread(values: list[float], digits: int) -> list[float]:
    return [round(min(values), digits), round(max(values), digits)]


def run_ipc_bench(
    events: int, payload: str, rate: float, repeats: int, *, peers: bool = False
) -> dict[str, Any]:
    url = stream_url(events, payload, rate)
    left_out: dict[str, str] = {}
    order = list(MODES)
    if peers:
        order += PEERS
        if not zmq_available():
            order = [m for m in order if m not in ZMQ_PEERS]
            left_out |= {
                m: "pyzmq not installed (pip install veritas-ipc[bench])" for m in ZMQ_PEERS
            }
    samples: dict[str, list[Sample]] = {m: [] for m in order}
    for _ in range(repeats):
        for mode in order:
            samples[mode].append(_run(mode, url))
    modes: dict[str, dict[str, Any]] = {}
    for mode, runs in samples.items():
        per_s = [s.events_per_s for s in runs]
        mb = [s.mb_per_s for s in runs]
        p50 = [percentile(s.latencies_ms, 50) for s in runs]
        p99 = [percentile(s.latencies_ms, 99) for s in runs]
        modes[mode] = {
            "events_per_s": round(statistics.median(per_s), 1),
            "mb_per_s": round(statistics.median(mb), 2),
            "p50_ms": round(statistics.median(p50), 3),
            "p99_ms": round(statistics.median(p99), 3),
            "p99_runs_ms": [round(x, 3) for x in p99],
            # every run's latencies together: steadier than a median of per-run tails
            "p99_pooled_ms": round(percentile([x for s in runs for x in s.latencies_ms], 99), 3),
            # lowest and highest across the repeats
            "spread": {
                "events_per_s": _spread(per_s, 1),
                "mb_per_s": _spread(mb, 2),
                "p50_ms": _spread(p50, 3),
                "p99_ms": _spread(p99, 3),
            },
            "attested": sorted({s.attested for s in runs}),
            "events_per_run": sorted({s.events for s in runs}),
        }
    result: dict[str, Any] = {"modes": modes, "events": events, "payload": payload, "rate": rate}
    result |= {"repeats": repeats, "p99_paired": paired_p99(result)}
    if peers:
        result["peers"] = {"left_out": left_out, "vs_floor": vs_floor(result)}
    return result


def key_metric(result: dict[str, Any]) -> str:
    """What a run is judged by: MB/s for screenshots, p99 when paced, else events/s."""
    if result["rate"]:
        return "p99_ms"
    return "mb_per_s" if result["payload"] == "screenshot" else "events_per_s"


def vs_floor(result: dict[str, Any]) -> dict[str, float]:
    """Each transport's key metric over the floor's (for p99: above 1 is slower)."""
    m, key = result["modes"], key_metric(result)
    floor = m["floor"][key]
    return {mode: round(v[key] / floor, 3) if floor else 0.0 for mode, v in m.items()}


def ratios(result: dict[str, Any]) -> dict[str, float]:
    m = result["modes"]
    key = "mb_per_s" if result["payload"] == "screenshot" else "events_per_s"
    out = {
        "queue_vs_stdout_throughput": round(m["queue"][key] / m["stdout"][key], 3)
        if m["stdout"][key]
        else 0.0,
        "queue_vs_pipe_throughput": round(m["queue"][key] / m["pipe"][key], 3)
        if m["pipe"][key]
        else 0.0,
    }
    if m["stdout"]["p99_ms"]:
        out["queue_vs_stdout_p99_latency"] = round(m["queue"]["p99_ms"] / m["stdout"]["p99_ms"], 3)
    if m["stdout"]["p99_pooled_ms"]:
        out["queue_vs_stdout_p99_pooled"] = round(
            m["queue"]["p99_pooled_ms"] / m["stdout"]["p99_pooled_ms"], 3
        )
    return out


def paired_p99(result: dict[str, Any]) -> dict[str, Any]:
    """Queue against stdout p99, repeat by repeat (the two ran next to each other).

    Machine noise moves a whole repeat; comparing within pairs removes most of it. ``not_above``
    counts the pairs where the Queue's p99 was at most stdout's, and ``sign_test_p`` is the
    one-sided probability of that many or more if neither transport were faster.
    """
    q, s = result["modes"]["queue"]["p99_runs_ms"], result["modes"]["stdout"]["p99_runs_ms"]
    ratios = [round(a / b, 3) if b else 0.0 for a, b in zip(q, s, strict=True)]
    not_above = sum(a <= b for a, b in zip(q, s, strict=True))
    k = len(ratios)
    tail = sum(math.comb(k, i) for i in range(not_above, k + 1)) / 2**k if k else 1.0
    return {
        "ratios": ratios,
        "median_ratio": round(statistics.median(ratios), 3) if ratios else 0.0,
        "not_above": not_above,
        "pairs": k,
        "sign_test_p": round(tail, 4),
    }


def table(result: dict[str, Any]) -> str:
    key = key_metric(result)
    floor = result.get("peers", {}).get("vs_floor", {})
    lines = [
        f"IPC benchmark: {result['events']} events, payload {result['payload']}, "
        f"rate {result['rate'] or 'unpaced'}, median of {result['repeats']} runs "
        f"(spread: lowest-highest {key} across runs)",
        f"{'transport':<12}{'events/s':>12}{'MB/s':>10}{'p50 ms':>10}{'p99 ms':>10}"
        f"{'p99 pooled':>12}  {'spread':<20}{'vs floor' if floor else '':<9} attested",
    ]
    for mode, m in result["modes"].items():
        low, high = m["spread"][key]
        digits = 0 if key == "events_per_s" else (2 if key == "mb_per_s" else 3)
        spread = f"{low:,.{digits}f}-{high:,.{digits}f}"
        ratio = f"{floor[mode]:.2f}x" if mode in floor else ""
        lines.append(
            f"{mode:<12}{m['events_per_s']:>12,.0f}{m['mb_per_s']:>10.2f}{m['p50_ms']:>10.3f}"
            f"{m['p99_ms']:>10.3f}{m['p99_pooled_ms']:>12.3f}  {spread:<20}{ratio:<9} "
            f"{','.join(m['attested'])}"
        )
    for mode, why in result.get("peers", {}).get("left_out", {}).items():
        lines.append(f"{mode:<12}left out: {why}")
    lines += [f"{k}: {v}" for k, v in ratios(result).items()]
    p = result["p99_paired"]
    lines.append(
        f"p99 paired by repeat: queue <= stdout in {p['not_above']} of {p['pairs']} "
        f"(sign test p={p['sign_test_p']:g}), median queue/stdout {p['median_ratio']}, "
        f"ratios {' '.join(f'{r:.2f}' for r in p['ratios'])}"
    )
    return "\n".join(lines)
