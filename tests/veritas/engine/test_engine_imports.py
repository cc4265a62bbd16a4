"""The engine imports a phase's modules when the phase runs: an audit that ends early never
loads Pillow or the later phases' rules, one that completes loads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LATER = (
    "veritas.engine.security",
    "veritas.engine.darkpatterns",
    "veritas.engine.graph",
    "veritas.engine.judge",
    "veritas.engine.render",
    "veritas.pixels",
    "PIL",
)

_RUN_CHILD = (
    "import json, sys\n"
    "from veritas.child.main import main\n"
    "code = main(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as fh: json.dump(sorted(sys.modules), fh)\n"
    "sys.exit(code)\n"
)


def audit_modules(tmp_path: Path, url: str) -> tuple[set[str], str]:
    """The modules a stdout-mode child loaded to audit *url* (Pillow renderer), and its last
    event's type."""
    out = tmp_path / "modules.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERITAS_IPC")}
    env |= {"PYTHONPATH": str(ROOT), "VERITAS_RENDERER": "pillow"}
    proc = subprocess.run(
        [sys.executable, "-P", "-c", _RUN_CHILD, str(out), url, "--audit-id", "lazy"],
        env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    last = json.loads(proc.stdout.splitlines()[-1].removeprefix(b"##PROGRESS:"))
    return set(json.loads(out.read_text())), last["type"]


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
