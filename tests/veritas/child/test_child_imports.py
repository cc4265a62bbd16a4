"""The audit child loads only what its audit uses: a stdout-mode child never loads the Queue's
code (nor asyncio and multiprocessing, which only the Queue uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
QUEUE_ONLY = (
    "veritas.child.queue_sender",
    "veritas.protocol.queue_wire",
    "multiprocessing",
    "multiprocessing.connection",
    "asyncio",
)
NEVER = ("PIL", "psutil", "deepdiff", "veritas.diff", "veritas.parent", "harness")

#: Runs the child's entry point as ``python -m veritas.child`` would, then lists sys.modules.
_RUN_CHILD = (
    "import json, sys\n"
    "from veritas.child.main import main\n"
    "code = main(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as fh: json.dump(sorted(sys.modules), fh)\n"
    "sys.exit(code)\n"
)


def child_modules(tmp_path: Path, ipc: str, stdin: bytes = b"") -> set[str]:
    """The modules loaded by a child that ran a short synthetic stream in *ipc* mode."""
    out = tmp_path / f"modules-{ipc}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-P", "-c", _RUN_CHILD, str(out), "synthetic:?events=5",
         "--audit-id", "lazy", "--ipc", ipc],
        input=stdin, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"##PROGRESS:") == 5
    return set(json.loads(out.read_text()))


def test_a_stdout_child_loads_no_queue_code(tmp_path: Path) -> None:
    modules = child_modules(tmp_path, "stdout")
    assert "veritas.child.emitter" in modules
    assert [m for m in QUEUE_ONLY + NEVER if m in modules] == []


def test_a_queue_child_loads_the_queue_code(tmp_path: Path) -> None:
    # The control: the same check sees the Queue's modules where they are used. No parent
    # listens at this address, so the child fails over and its events come over stdout.
    handshake = {"address": str(tmp_path / "nobody"), "authkey": "00" * 32, "maxsize": 10,
                 "max_bytes": 1 << 20, "put_timeout": 1.0, "named_pipe": False}  # fmt: skip
    modules = child_modules(tmp_path, "queue", json.dumps(handshake).encode() + b"\n")
    assert [m for m in QUEUE_ONLY if m not in modules] == []
    assert [m for m in NEVER if m in modules] == []
