"""``harness bench startup``: where an audit's time goes, from spawning the child to the end.

One corpus case (default ``clean_blog``: one small page of the site server, ``quick_scan``) is
audited ``repeats`` times in each mode, stdout and Queue, interleaved (the order alternates
between repeats) so that machine noise hits every mode alike; with ``--against DIR`` another
checkout of the project (an older commit, say) is measured in the same interleaved run. Each
audit runs in a fresh parent interpreter (``startupdriver.py``, run with the measured
checkout on its ``PYTHONPATH``), and each audit child carries ``startupprobe.py`` as its
``sitecustomize``, which only observes. Every figure is wall time, milliseconds, reported as
median, min and max over the repeats:

===================== ===================================================================
interpreter           spawn → the interpreter has set itself up (``site`` imported)
imports to 1st event  time inside imports between then and the first event
engine set-up         the rest of that span: arguments, the Queue handshake, the engine check
first event           spawn → ``audit_start`` emitted (the sum of the three above)
imports, whole audit  time inside imports from spawn to the end (some happen after the first
                      event: what the audit imports only when it needs it)
Chromium launched at  spawn → Chromium started
Chromium answered at  spawn → its first DevTools answer (the browser is up)
waited for Chromium   how long the audit blocked on that first answer
first screenshot      spawn → the first ``screenshot`` event emitted
browser close         killing Chromium and its helpers, until they are gone
the rest              first screenshot → the end
end                   spawn → ``AuditRunner.run`` returned (child exited, parent cleaned up)
===================== ===================================================================

Before the timed runs, one untimed run per checkout and mode runs the child with
``-X importtime`` (it also warms the page cache): the table lists the slowest top-level
imports, how many modules the child loaded, which notable ones, and how many of the project's
own modules had no bytecode and were compiled from source.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.corpus.cases import load_corpus
from harness.corpus.siteserver import serve_sites

ROOT = Path(__file__).resolve().parents[2]
_HERE = Path(__file__).resolve().parent
MODES = ("stdout", "queue")
DEFAULT_CASE = "clean_blog"
#: The rows of the table: key, label.
ROWS = (
    ("interpreter", "interpreter"),
    ("imports_to_first_event", "imports to 1st event"),
    ("setup", "engine set-up"),
    ("first_event", "= first event"),
    ("imports", "imports, whole audit"),
    ("chromium_launched", "Chromium launched at"),
    ("chromium_answered", "Chromium answered at"),
    ("chromium_wait", "waited for Chromium"),
    ("first_screenshot", "first screenshot at"),
    ("browser_close", "browser close"),
    ("rest", "the rest"),
    ("end", "= end"),
)
#: Modules worth naming when the child loads them (the audit may not need them).
NOTABLE = (
    "asyncio",
    "multiprocessing",
    "multiprocessing.connection",
    "veritas.child.queue_sender",
    "veritas.protocol.queue_wire",
    "PIL.Image",
    "psutil",
    "deepdiff",
    "ssl",
    "http.client",
    "pathlib",
)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _git_commit(checkout: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(checkout), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return proc.stdout.strip() or "unknown"


def _union_ms(intervals: Sequence[Sequence[float]], lo: float, hi: float) -> float:
    """Milliseconds covered by *intervals* (overlaps counted once) within [lo, hi]."""
    total = 0.0
    reach = lo
    for start, end in sorted((max(s, lo), min(e, hi)) for s, e in intervals):
        if end <= reach or end <= start:
            continue
        total += end - max(start, reach)
        reach = end
    return total * 1000.0


def figures(run: dict[str, Any]) -> dict[str, float | None]:
    """The table's figures (ms) of one driver run; ``None`` where the audit had no such step."""
    spawn = run["spawn"]
    probe = run["probe"] or {}
    events = run["events"]

    def since_spawn(t: float | None) -> float | None:
        return None if t is None else (t - spawn) * 1000.0

    first = events[0]["emitted"]
    shots = [e["emitted"] for e in events if e["type"] == "screenshot"]
    shot = shots[0] if shots else None
    site = probe.get("site", spawn)
    imports = probe.get("imports", [])
    before = _union_ms(imports, site, first)
    call = probe.get("chromium_call")
    close = probe.get("chromium_close")
    end = run["end"]
    return {
        "interpreter": since_spawn(site),
        "imports_to_first_event": before,
        "setup": (first - site) * 1000.0 - before,
        "first_event": since_spawn(first),
        "imports": _union_ms(imports, spawn, end),
        "chromium_launched": since_spawn(probe.get("chromium_launch")),
        "chromium_answered": since_spawn(call[1]) if call else None,
        "chromium_wait": (call[1] - call[0]) * 1000.0 if call else None,
        "first_screenshot": since_spawn(shot),
        "browser_close": (close[1] - close[0]) * 1000.0 if close else None,
        "rest": (end - shot) * 1000.0 if shot is not None else None,
        "end": since_spawn(end),
    }


def spread(values: Sequence[float | None]) -> dict[str, Any]:
    """Median, min and max of the values that exist (``None`` when none does)."""
    present = [v for v in values if v is not None]
    if not present:
        return {"median": None, "min": None, "max": None, "values": list(values)}
    return {
        "median": round(statistics.median(present), 1),
        "min": round(min(present), 1),
        "max": round(max(present), 1),
        "values": [None if v is None else round(v, 1) for v in values],
    }


def import_profile(run: dict[str, Any], top: int = 8) -> dict[str, Any]:
    """What a ``-X importtime`` run of the child says: the slowest top-level imports, the total,
    how many modules were loaded, which notable ones, and the project's modules compiled from
    source."""
    top_level: list[tuple[str, float]] = []
    for line in run["importtime"]:
        parts = line.split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2][1:]
        if not name.startswith(" "):
            top_level.append((name.strip(), int(parts[1]) / 1000.0))
    probe = run["probe"] or {}
    modules: list[str] = probe.get("modules", [])
    bytecode = probe.get("bytecode", {})
    return {
        "importtime_ms": round(sum(ms for _, ms in top_level), 1),
        "top": [[n, round(ms, 1)] for n, ms in sorted(top_level, key=lambda x: -x[1])[:top]],
        "modules_loaded": len(modules),
        "notable_loaded": [m for m in NOTABLE if m in modules],
        "project_from_source": len(bytecode.get("from_source", [])),
        "project_modules": len(bytecode.get("from_source", []))
        + len(bytecode.get("from_bytecode", [])),
        "dont_write_bytecode": bool(bytecode.get("dont_write_bytecode")),
        "modules": modules,
    }


def _one_run(
    checkout: Path, url: str, tier: str, mode: str, hook_dir: Path, profile: bool
) -> dict[str, Any]:
    spec = {"url": url, "tier": tier, "mode": mode, "hook_dir": str(hook_dir), "profile": profile}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPROFILEIMPORTTIME"}
    env["PYTHONPATH"] = str(checkout)
    proc = subprocess.run(
        [sys.executable, "-P", str(_HERE / "startupdriver.py"), json.dumps(spec)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(
            f"bench startup: the {mode} audit of {url} in {checkout} failed "
            f"(exit {proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    run: dict[str, Any] = json.loads(proc.stdout)
    if not run["events"] or run["spawn"] is None:
        raise RuntimeError(
            f"bench startup: the {mode} audit of {url} in {checkout} delivered no event "
            f"(state {run['state']}): {run['stderr_tail']}"
        )
    if run["attested"] != mode:
        raise RuntimeError(
            f"bench startup: the {mode} audit's events came over {run['attested']}, not {mode}"
        )
    return run


def run_startup_bench(
    corpus_dirs: Sequence[Path],
    case_id: str,
    repeats: int,
    against: Path | None = None,
    say: Callable[[str], None] = _say,
) -> dict[str, Any]:
    """Audit the case *repeats* times per mode (and per checkout), interleaved; the figures."""
    if repeats < 1:
        raise ValueError(f"repeats {repeats!r}: must be >= 1")
    corpus = load_corpus(list(corpus_dirs))
    case = corpus.by_id(case_id)
    checkouts = {"this": ROOT}
    if against is not None:
        if not (against / "veritas" / "parent" / "runner.py").is_file():
            raise ValueError(f"--against {against}: not a checkout of this project")
        checkouts["against"] = against.resolve()
    plan = [(label, mode) for label in checkouts for mode in MODES]
    load_before = os.getloadavg()
    started = time.monotonic()
    raw: dict[str, list[dict[str, Any]]] = {f"{c}/{m}": [] for c, m in plan}
    profiles: dict[str, dict[str, Any]] = {}
    hook_dir = Path(tempfile.mkdtemp(prefix="veritas-bench-startup-"))
    try:
        shutil.copyfile(_HERE / "startupprobe.py", hook_dir / "sitecustomize.py")
        with serve_sites(corpus.sites_dirs) as server:
            url = case.target_url(server)
            total = len(plan) * (repeats + 1)
            done = 0
            for r in range(repeats + 1):
                order = plan if r % 2 == 0 else plan[::-1]
                for label, mode in order:
                    done += 1
                    what = "import profile" if r == 0 else f"run {r}/{repeats}"
                    say(
                        f"bench startup: [{done}/{total}] {label} {mode} {what} "
                        f"({time.monotonic() - started:.0f} s elapsed)"
                    )
                    run = _one_run(checkouts[label], url, case.tier, mode, hook_dir, r == 0)
                    if r == 0:
                        profiles[f"{label}/{mode}"] = import_profile(run)
                    else:
                        raw[f"{label}/{mode}"].append(run)
    finally:
        shutil.rmtree(hook_dir, ignore_errors=True)
    runs: dict[str, dict[str, Any]] = {}
    for key, samples in raw.items():
        per_run = [figures(s) for s in samples]
        runs[key] = {name: spread([f[name] for f in per_run]) for name, _ in ROWS}
        runs[key]["states"] = sorted({s["state"] for s in samples})
    return {
        "case": case.id,
        "url": url,
        "tier": case.tier,
        "repeats": repeats,
        "checkouts": {
            label: {"path": str(path), "commit": _git_commit(path)}
            for label, path in checkouts.items()
        },
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(time.monotonic() - started, 1),
        "runs": runs,
        "imports": profiles,
    }


def _cell(s: dict[str, Any]) -> str:
    if s["median"] is None:
        return "—"
    return f"{s['median']:.0f} [{s['min']:.0f}–{s['max']:.0f}]"


def table(result: dict[str, Any]) -> str:
    keys = list(result["runs"])
    width = max(22, *(len(_cell(result["runs"][k][name])) + 2 for k in keys for name, _ in ROWS))
    commits = ", ".join(f"{k} = {v['commit']}" for k, v in result["checkouts"].items())
    lines = [
        f"harness bench startup: case {result['case']} ({result['tier']}), {result['repeats']} "
        f"runs per column, interleaved; {commits}",
        f"load average {' '.join(map(str, result['load_before']))} before, "
        f"{' '.join(map(str, result['load_after']))} after; ms from spawn, "
        "median [min–max]",
        "",
        f"{'':24}" + "".join(f"{k:>{width}}" for k in keys),
    ]
    for name, label in ROWS:
        lines.append(
            f"{label:24}" + "".join(f"{_cell(result['runs'][k][name]):>{width}}" for k in keys)
        )
    lines.append("")
    lines.append("imports (one -X importtime run per column, not timed):")
    for key, p in result["imports"].items():
        lines.append(
            f"  {key}: {p['modules_loaded']} modules, {p['importtime_ms']:.0f} ms in top-level "
            f"imports; project modules compiled from source {p['project_from_source']}/"
            f"{p['project_modules']}"
            + (" (PYTHONDONTWRITEBYTECODE is set)" if p["dont_write_bytecode"] else "")
        )
        lines.append(f"    loaded: {', '.join(p['notable_loaded']) or 'none of the notable'}")
        lines.append("    slowest: " + ", ".join(f"{name} {ms:.0f}" for name, ms in p["top"]))
    return "\n".join(lines)
