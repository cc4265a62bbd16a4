"""The ``veritas`` command line (parent side).

    veritas audit URL [--tier T] [--use-queue-ipc | --use-stdout | --validate-ipc] [-v|-vv] [--json]
    veritas rollout status [--json]
    veritas serve [--host 127.0.0.1] [--port 8000] [--max-concurrent N] [--allow-file-urls]
                  [--engine MODULE:FUNCTION]

Exit codes: 0 success; 1 the audit failed, timed out or crashed, or ``--validate-ipc`` found a
difference; 2 bad arguments or settings (e.g. an invalid ``QUEUE_IPC_ROLLOUT``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TextIO
from urllib.parse import urlsplit

from veritas.child.engines import BUNDLED_ENGINE, ENGINE_ENV
from veritas.parent.collect import collect
from veritas.parent.console import progress_line, summary_text
from veritas.parent.engine import resolve_engine
from veritas.parent.envcheck import check_environment
from veritas.parent.metrics import MetricsStore
from veritas.parent.mode import ConfigError, Mode, select_mode
from veritas.parent.outcome import AuditOutcome
from veritas.parent.progress import Progress
from veritas.parent.rollout_status import rollout_figures
from veritas.parent.runner import AuditRunner
from veritas.protocol.event import TIERS, ProgressEvent


def _url(raw: str) -> str:
    scheme = urlsplit(raw).scheme.lower()
    if scheme not in ("http", "https", "file", "synthetic"):
        raise argparse.ArgumentTypeError(
            f"URL {raw!r}: scheme {scheme or '(none)'!r} is not supported; accepted: http, "
            "https, file (and synthetic: streams for load tests)"
        )
    return raw


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"--timeout {raw!r} is invalid; accepted: seconds > 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``veritas`` command's parser (parsing runs nothing)."""
    parser = argparse.ArgumentParser(
        prog="veritas",
        description="Audit websites in a child process, over stdout lines or a bounded Queue.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    audit = sub.add_parser(
        "audit",
        help="audit one URL (http, https or file)",
        description="Audit one URL in a child process. The mode: a flag, else QUEUE_IPC_MODE, "
        "else the rollout (QUEUE_IPC_ROLLOUT). Exit 0 completed; 1 failed, timed out or "
        "crashed, or --validate-ipc not match; 2 bad arguments or settings.",
    )
    audit.add_argument("url", type=_url, metavar="URL", help="http, https or file URL to audit")
    audit.add_argument(
        "--tier", choices=TIERS, default="quick_scan", help="how deep (default quick_scan)"
    )
    audit.add_argument(
        "--validate-ipc",
        action="store_true",
        help="run both modes, compare them, print the verdict (exit 1 on mismatch)",
    )
    audit.add_argument(
        "--use-queue-ipc", action="store_true", help="use the Queue (wins over --use-stdout)"
    )
    audit.add_argument("--use-stdout", action="store_true", help="use stdout marker lines")
    audit.add_argument(
        "--timeout",
        type=_seconds,
        default=300.0,
        metavar="SECONDS",
        help="time limit of the whole audit (default 300)",
    )
    audit.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout; no progress on stderr",
    )
    audit.add_argument(
        "--engine",
        default=None,
        metavar="MODULE:FUNCTION",
        help=f"the audit engine (default: ${ENGINE_ENV}, else {BUNDLED_ENGINE})",
    )
    audit.add_argument(
        "-v", "--verbose", action="count", default=0, help="-v INFO, -vv DEBUG (IPC detail)"
    )
    rollout = sub.add_parser(
        "rollout",
        help="rollout figures from the metrics store",
        description="Rollout figures from the ledger and the metrics store.",
    )
    rollout_sub = rollout.add_subparsers(dest="rollout_command", required=True, metavar="COMMAND")
    status = rollout_sub.add_parser(
        "status",
        help="current stage, mode usage, fallbacks, latency",
        description="The stage (from the rollout ledger, else QUEUE_IPC_ROLLOUT) and the "
        "production audits recorded since it was entered, per mode.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    _add_serve_parser(sub)
    return parser


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is invalid; accepted: an integer >= 1")
    return value


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser(
        "serve",
        help="the backend: audits streamed to a browser (live page)",
        description="The backend: FastAPI under uvicorn, the live audit page at /, audits "
        "streamed over WebSocket, /metrics for Prometheus.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free)")
    serve.add_argument(
        "--max-concurrent", type=_positive_int, default=4, help="audits run at once (default 4)"
    )
    serve.add_argument(
        "--allow-file-urls",
        action="store_true",
        help="admit file: URLs and synthetic: streams (tests; they read this machine's files) "
        "and the test-only start fields audit_id, fault, request_timeout, timeout",
    )
    serve.add_argument(
        "--engine",
        default=None,
        metavar="MODULE:FUNCTION",
        help=f"the audit engine (default: ${ENGINE_ENV}, else {BUNDLED_ENGINE})",
    )
    serve.add_argument("-v", "--verbose", action="count", default=0, help="-v INFO, -vv DEBUG")


def _cmd_serve(args: argparse.Namespace) -> int:
    from veritas.server.serve import serve
    from veritas.server.settings import ServerSettings

    settings = ServerSettings(
        host=args.host,
        port=args.port,
        max_concurrent=args.max_concurrent,
        allow_file_urls=args.allow_file_urls,
        engine=args.engine,
    )
    serve(settings, log_level="debug" if args.verbose > 1 else "info")
    return 0


async def _audit_once(
    args: argparse.Namespace,
    mode: Mode,
    store: MetricsStore,
    audit_id: str | None = None,
    on_event: Callable[[ProgressEvent], None] | None = None,
) -> tuple[AuditOutcome, list[ProgressEvent]]:
    runner = AuditRunner(
        args.url,
        tier=args.tier,
        mode=mode,
        timeout=args.timeout,
        metrics=store,
        audit_id=audit_id,
        engine=args.engine,
    )
    audit = await collect(runner, on_event)
    return audit.outcome, audit.events


def _bar(out: TextIO, mode: Mode) -> Callable[[ProgressEvent], None]:
    """The one audit's progress bar, redrawn in place on a terminal."""

    def show(event: ProgressEvent) -> None:
        out.write("\r" + progress_line(event, mode))
        out.flush()

    return show


def _cmd_audit(args: argparse.Namespace) -> int:
    decision = select_mode(args.url, use_queue_ipc=args.use_queue_ipc, use_stdout=args.use_stdout)
    logging.getLogger("veritas").info("IPC mode %s", decision.describe())
    bar = sys.stderr if sys.stderr.isatty() and not args.json else None
    if args.validate_ipc:
        # Both runs are validation: they never count as production audits.
        return _cmd_validate(args, MetricsStore(purpose="validation"))
    store = MetricsStore()
    show = _bar(bar, decision.mode) if bar is not None else None
    outcome, _ = asyncio.run(_audit_once(args, decision.mode, store, on_event=show))
    if bar is not None:
        bar.write("\n")
    if args.json:
        print(
            json.dumps(
                {"state": outcome.final_state, "ipc": outcome.ipc_summary()}, ensure_ascii=True
            )
        )
    else:
        print(summary_text(outcome))
    return 0 if outcome.state == "completed" else 1


def _cmd_validate(args: argparse.Namespace, store: MetricsStore) -> int:
    from veritas.diff.observation import observe
    from veritas.diff.verdict import judge_pair

    audit_id = uuid.uuid4().hex[:12]  # the same id in both runs: the streams must be identical
    # Both audits run at once; progress on stderr says where each is, then the comparison.
    progress = Progress("veritas audit --validate-ipc", total=3, enabled=not args.json)

    async def run(mode: Mode) -> tuple[AuditOutcome, list[ProgressEvent]]:
        with progress.step(f"{mode} run") as step:

            def show(event: ProgressEvent) -> None:
                step.update(f"{event.phase} {event.pct:.0f}%")

            outcome, events = await _audit_once(args, mode, store, audit_id, show)
            step.result = f"{outcome.state}, {outcome.events} events"
            return outcome, events

    async def both() -> list[tuple[AuditOutcome, list[ProgressEvent]]]:
        return list(await asyncio.gather(run("stdout"), run("queue")))

    with progress:
        (s_out, s_events), (q_out, q_events) = asyncio.run(both())
        with progress.step("comparing the two streams") as step:
            result = judge_pair(observe(s_out, s_events), observe(q_out, q_events))
            step.result = result.verdict
    if args.json:
        print(
            json.dumps(
                {
                    "verdict": result.verdict,
                    "reasons": result.reasons,
                    "first_difference": result.first_difference,
                    "stdout": s_out.ipc_summary(),
                    "queue": q_out.ipc_summary(),
                },
                ensure_ascii=True,
                default=str,
            )
        )
    else:
        print(f"verdict: {result.verdict}")
        for reason in result.reasons:
            print(f"  {reason}")
        if result.first_difference:
            print("first difference:\n  " + result.first_difference.replace("\n", "\n  "))
        for name, o in (("stdout", s_out), ("queue", q_out)):
            print(
                f"{name:>6}: {o.state}, {o.events} events, transports {o.events_by_transport}, "
                f"{o.duration_s:.2f}s"
            )
    return 0 if result.verdict == "match" else 1


def _cmd_rollout_status(args: argparse.Namespace) -> int:
    figures = rollout_figures(MetricsStore())
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"stage: {figures['stage']:g} (from {figures['stage_from']})", end="")
    print(f", entered {figures['entered']}" if figures["entered"] else "")
    if figures["ledger_problem"]:
        print(f"  the ledger cannot be used: {figures['ledger_problem']}")
    if figures["disagreement"]:
        print(f"  {figures['disagreement']}")
    if figures["halted"]:
        halt = figures["halt"]
        print(f"  HALTED since {halt['at']} by {halt['by']}: {halt['reason']}")
    since = figures["window"]["since"]
    window = f"since {since}" if since else "all recorded"
    if not figures["audits"]:
        print(f"production audits ({window}): none yet — no figures to show")
        return 0
    print(
        f"production audits ({window}): {figures['audits']}  by mode used: "
        f"{figures['audits_by_mode']}  usage %: {figures['mode_usage_pct']}"
    )
    rates = ", ".join(
        f"{m} {'-' if r is None else f'{100 * r:.1f} %'}"
        for m, r in figures["success_rate_by_mode"].items()
    )
    print(f"success rate by mode: {rates}  fallbacks: {figures['fallbacks']}")
    for reason, n in figures["fallback_reasons"].items():
        print(f"  {n:>5} × {reason}")
    print(
        f"duration s p50/p99: {figures['duration_s']['p50']}/{figures['duration_s']['p99']}  "
        f"event latency p99 ms (median audit / worst): "
        f"{figures['latency_p99_ms']['p50']}/{figures['latency_p99_ms']['max']}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(getattr(args, "verbose", 0), logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "audit":
            check_environment()
            args.engine, _ = resolve_engine(args.engine)
            return _cmd_audit(args)
        if args.command == "serve":
            check_environment()
            args.engine, _ = resolve_engine(args.engine)
            return _cmd_serve(args)
        return _cmd_rollout_status(args)
    except ConfigError as exc:
        print(f"veritas: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
