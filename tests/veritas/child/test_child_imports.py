"""The audit child loads only what its audit uses: a stdout-mode child never loads the Queue's
code (nor asyncio and multiprocessing, which only the Queue uses), and the engine imports a
phase's modules when the phase runs (an audit that ends early never loads Pillow or the later
phases' rules; one that completes loads them)."""

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
LATER = (
    "veritas.engine.security",
    "veritas.engine.darkpatterns",
    "veritas.engine.graph",
    "veritas.engine.judge",
    "veritas.engine.render",
    "veritas.pixels",
    "PIL",
)

#: Runs the child's entry point as ``python -m veritas.child`` would, then lists sys.modules.
_RUN_CHILD = (
    "import json, sys\n"
    "from veritas.child.main import main\n"
    "code = main(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as fh: json.dump(sorted(sys.modules), fh)\n"
    "sys.exit(code)\n"
)


def loaded_modules(
    tmp_path: Path, *argv: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> tuple[set[str], subprocess.CompletedProcess[bytes]]:
    """The modules a child loaded to run *argv* (its arguments after ``python -m veritas.child``),
    and the finished child."""
    out = tmp_path / "modules.json"
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}
    child_env |= {"PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-P", "-c", _RUN_CHILD, str(out), *argv],
        input=stdin, env=child_env, capture_output=True, timeout=120,
    )  # fmt: skip
    return set(json.loads(out.read_text())), proc


def child_modules(tmp_path: Path, ipc: str, stdin: bytes = b"") -> set[str]:
    """The modules loaded by a child that ran a short synthetic stream in *ipc* mode."""
    argv = ("synthetic:?events=5", "--audit-id", "lazy", "--ipc", ipc)
    modules, proc = loaded_modules(tmp_path, *argv, stdin=stdin)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.count(b"##PROGRESS:") == 5
    return modules


def audit_modules(tmp_path: Path, url: str) -> tuple[set[str], str]:
    """The modules a stdout-mode child loaded to audit *url* (Pillow renderer), and its last
    event's type."""
    argv = (url, "--audit-id", "lazy")
    modules, proc = loaded_modules(tmp_path, *argv, env={"VERITAS_RENDERER": "pillow"})
    last = json.loads(proc.stdout.splitlines()[-1].removeprefix(b"##PROGRESS:"))
    return modules, last["type"]


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


def test_an_audit_that_ends_in_the_scout_loads_no_later_phase(tmp_path: Path) -> None:
    modules, last = audit_modules(tmp_path, (tmp_path / "missing.html").as_uri())
    assert last == "audit_error"
    assert "veritas.engine.scout" in modules
    assert [m for m in LATER if m in modules] == []


def test_a_complete_audit_loads_every_phase(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><title>t</title><h1>Hello</h1><a href='b.html'>b</a>")
    modules, last = audit_modules(tmp_path, page.as_uri())
    assert last == "audit_complete"
    assert [m for m in LATER if m not in modules] == []
