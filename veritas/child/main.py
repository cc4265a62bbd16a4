"""The audit child process (internal; started by ``AuditRunner``, not by people).

    python -m veritas.child URL --tier TIER --audit-id ID [--ipc stdout|queue]
                            [--request-timeout S] [--engine MODULE:FUNCTION]

With ``--ipc queue`` the child reads one JSON line from stdin, written by its parent:
``{"address": …, "authkey": "<hex>", "maxsize": N, "max_bytes": B, "put_timeout": S,
"named_pipe": bool}``.
The authkey travels this way so that it is never on a command line nor in the environment, where the child's own
children (a browser, say) would inherit it.

Exit codes: 0 the audit completed, 1 it ended in ``audit_error``, 2 bad arguments,
3 the audit code raised (reported as ``audit_error`` first).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from veritas.child.emitter import Emitter, claim_stdout
from veritas.child.engines import BUNDLED_ENGINE, SYNTHETIC, run_engine
from veritas.child.faults import Fault, FaultSpecError, fault_from_env
from veritas.child.seqlog import seq_log_from_env
from veritas.protocol.event import TERMINAL_TYPES

if TYPE_CHECKING:
    from veritas.child.queue_sender import QueueSender

#: ``prctl`` option: orphaned descendants are re-parented to this process (Linux).
_PR_SET_CHILD_SUBREAPER = 36


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m veritas.child", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--tier", default="quick_scan")
    parser.add_argument("--audit-id", required=True)
    parser.add_argument("--ipc", choices=("stdout", "queue"), default="stdout")
    parser.add_argument("--request-timeout", type=float, default=None)
    parser.add_argument("--engine", default=BUNDLED_ENGINE, metavar="MODULE:FUNCTION")
    return parser.parse_args(argv)


def _connect_queue(fault: Fault | None) -> QueueSender:
    # Imported here: a stdout-mode child never loads the Queue's code (nor asyncio and
    # multiprocessing, which it uses).
    import json

    from veritas.child.faults import FaultInjector
    from veritas.child.queue_sender import QueueFailure, QueueSender

    line = sys.stdin.buffer.readline()
    try:
        spec = json.loads(line)
        address = spec["address"]
        if isinstance(address, list):
            address = tuple(address)
        if fault is not None and fault.kind == "connect":
            address = f"{address}-unreachable"
        return QueueSender(
            address,
            bytes.fromhex(spec["authkey"]),
            maxsize=int(spec["maxsize"]),
            max_bytes=int(spec["max_bytes"]),
            put_timeout=float(spec["put_timeout"]),
            named_pipe=bool(spec.get("named_pipe", sys.platform == "win32")),
            sever_after=fault.k if fault is not None and fault.kind == "sever" else None,
            injector=FaultInjector(fault)
            if fault is not None and fault.kind not in ("connect", "sever")
            else None,
        )
    except QueueFailure:
        raise
    except Exception as exc:
        raise QueueFailure(f"handshake: {type(exc).__name__}: {exc}") from None


def reap_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux; elsewhere nothing).

    When the engine kills a browser, the browser's helpers are orphans and, until they are
    reaped, zombies that a wait for them (``veritas.proctree.kill_tree``) cannot tell from
    the living. Re-parented to the system's init, they are reaped whenever init gets round to
    it: measured at 1.5-2 s on some hosts, on every audit. Re-parented here, the wait itself
    reaps them at once. An orphan nobody waits for stays a zombie only until this process ends.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # an unusual libc: the audit is the same, its end only slower


def run_target(
    url: str, tier: str, engine: str, emitter: Emitter, request_timeout: float | None
) -> None:
    """Run what *url* names: a ``synthetic:`` stream, or an audit by *engine*."""
    if url.startswith("synthetic:"):
        module, _, name = SYNTHETIC.partition(":")
        getattr(importlib.import_module(module), name)(url, emitter.emit)
        return
    run_engine(engine, url, tier, emitter.emit, request_timeout)


def main(argv: Sequence[str] | None = None) -> int:
    stdout = claim_stdout()
    args = _parse(argv)
    try:
        fault = fault_from_env()
    except FaultSpecError as exc:
        sys.stderr.write(f"veritas-child: error: {exc}\n")
        return 2
    reap_orphans()
    queue: QueueSender | None = None
    failover: str | None = None
    if args.ipc == "queue":
        from veritas.child.queue_sender import QueueFailure

        try:
            queue = _connect_queue(fault)
        except QueueFailure as exc:
            failover = exc.reason
    # Done with stdin (it held the handshake): point fd 0 at the null device rather than
    # closing it, so no later file or pipe is handed fd 0 by accident.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    emitter = Emitter(args.audit_id, stdout, queue, seq_log=seq_log_from_env())
    if failover is not None:
        emitter.fail_over(failover)
    code = 0
    try:
        run_target(args.url, args.tier, args.engine, emitter, args.request_timeout)
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        code = 3
        _end_with_error(emitter, f"internal error: {type(exc).__name__}: {exc}", type(exc).__name__)
    else:
        if emitter.last_type not in TERMINAL_TYPES:
            code = 3
            _end_with_error(
                emitter,
                f"internal error: engine {args.engine} returned without audit_complete or "
                "audit_error",
                "EngineProtocolError",
            )
    emitter.close()
    if code == 0 and emitter.last_type == "audit_error":
        code = 1
    return code


def _end_with_error(emitter: Emitter, detail: str, error_type: str) -> None:
    """End the audit with ``audit_error`` (kind ``internal``) where the protocol still allows
    one: after an ``audit_start`` (emitted here if the engine never got that far), before any
    end. An audit that already ended keeps its end; the exit code tells."""
    if emitter.last_type in TERMINAL_TYPES:
        return
    if emitter.last_type is None:
        emitter.emit("audit_start", "init", detail="audit started")
    emitter.emit(
        "audit_error",
        "complete",
        pct=100.0,
        detail=detail,
        summary={"error": {"kind": "internal", "type": error_type}},
    )
