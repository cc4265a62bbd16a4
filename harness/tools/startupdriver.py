"""One audit for ``harness bench startup``, timed from the parent's side; runs as a script.

    python -P startupdriver.py '{"url": …, "tier": …, "mode": …, "hook_dir": …, "profile": …}'

``harness bench startup`` starts this file in a fresh interpreter whose ``PYTHONPATH`` is the
checkout being measured, so the ``AuditRunner`` (and the child it spawns) are that checkout's:
one benchmark can measure two checkouts side by side. It uses only what every checkout has
(``AuditRunner(url, tier=, mode=, env=, timeout=).run(send)``) and the standard library.

It prints one JSON object: when the child was spawned (the ``subprocess.Popen`` audit event),
when each event was emitted and delivered, when ``run`` returned, the outcome's state and
transports, the child's ``##STARTUP:`` record (``startupprobe.py``, on the child's
``PYTHONPATH`` via ``hook_dir``) and, with ``profile``, the child's ``-X importtime`` lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any

PROBE_MARKER = "##STARTUP:"


class _ChildStderr(logging.Handler):
    """Every stderr line of the child: the runner logs each one at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "audit %s child: %s" and isinstance(record.args, tuple):
            self.lines.append(str(record.args[1]))


def main() -> int:
    spec: dict[str, Any] = json.loads(sys.argv[1])
    from veritas.parent.runner import AuditRunner

    spawned: list[float] = []

    def on_audit_event(event: str, args: tuple[Any, ...]) -> None:
        if event == "subprocess.Popen" and not spawned:
            spawned.append(time.time())

    stderr = _ChildStderr()
    ipc_log = logging.getLogger("veritas.ipc")
    ipc_log.setLevel(logging.DEBUG)
    ipc_log.addHandler(stderr)
    ipc_log.propagate = False
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}
    env["PYTHONPATH"] = spec["hook_dir"]
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    if spec["profile"]:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
        env["VERITAS_BENCH_MODULES"] = "1"
    events: list[dict[str, Any]] = []

    async def send(event: Any) -> None:
        events.append(
            {"seq": event.seq, "type": event.type, "phase": event.phase,
             "emitted": event.timestamp, "delivered": time.time()}
        )  # fmt: skip

    sys.addaudithook(on_audit_event)
    runner = AuditRunner(spec["url"], tier=spec["tier"], mode=spec["mode"], env=env, timeout=300)
    outcome = asyncio.run(runner.run(send))
    end = time.time()
    probe = None
    for line in stderr.lines:
        if line.startswith(PROBE_MARKER):
            probe = json.loads(line[len(PROBE_MARKER) :])
    result = {
        "spawn": spawned[0] if spawned else None,
        "end": end,
        "state": outcome.state,
        "mode_used": outcome.mode_used,
        "attested": outcome.attested_transport,
        "events": events,
        "probe": probe,
        "importtime": [ln for ln in stderr.lines if ln.startswith("import time:")],
        "stderr_tail": [ln for ln in stderr.lines if not ln.startswith(("import time:", "##"))][
            -5:
        ],
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
