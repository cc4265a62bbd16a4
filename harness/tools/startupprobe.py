"""The audit child's side of ``harness bench startup``: installed as the child's ``sitecustomize``.

``harness bench startup`` copies this file into a private directory as ``sitecustomize.py``
and puts that directory on the child's ``PYTHONPATH``, so it runs in every audit child of the
benchmark as soon as the interpreter has set itself up (``site`` imports it), before the
child's own code. It only observes:

- ``site``: when the interpreter was ready;
- ``imports``: the wall time of every outermost import (an ``import`` statement or
  ``importlib.import_module``), as ``[start, end]`` pairs;
- ``chromium_launch``: when the engine started Chromium (the ``subprocess.Popen`` audit event
  of a ``--headless`` command line); ``chromium_call``: the first DevTools call, from its start
  to Chromium's answer (how long the audit waited for the browser); ``chromium_close``: the
  first close of the browser, from its start to its end;
- ``exit``: when the child ended (the last ``atexit`` handler).

With ``VERITAS_BENCH_MODULES=1`` it also lists every module loaded by the end of the audit, and
which of this project's modules were compiled from source rather than loaded from bytecode.

At exit it writes one line to stderr: ``##STARTUP:`` followed by JSON. It never writes to
stdout, and never changes what the child runs: standard library only, no dependency on the
code it measures (it runs against older checkouts too).
"""

from __future__ import annotations

import atexit
import builtins
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

MARKER = "##STARTUP:"
MODULES_ENV = "VERITAS_BENCH_MODULES"

_site = time.time()
_imports: list[tuple[float, float]] = []
_marks: dict[str, Any] = {}
_depth = threading.local()


def _timed_import(real: Callable[..., Any]) -> Callable[..., Any]:
    """*real*, recording the wall time of each outermost call (nested imports are inside it)."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        start = time.time() if depth == 0 else 0.0
        try:
            return real(*args, **kwargs)
        finally:
            _depth.n = depth
            if depth == 0:
                _imports.append((start, time.time()))

    return timed


def _first(name: Callable[..., Any], key: str) -> Callable[..., Any]:
    """*name* (a method), recording the start and end of its first call under *key*."""

    def first(*args: Any, **kwargs: Any) -> Any:
        if key in _marks:
            return name(*args, **kwargs)
        start = time.time()
        try:
            return name(*args, **kwargs)
        finally:
            _marks[key] = [start, time.time()]

    return first


def _on_audit_event(event: str, args: tuple[Any, ...]) -> None:
    if event != "subprocess.Popen" or "chromium_launch" in _marks:
        return
    argv = args[1]
    if not isinstance(argv, (list, tuple)) or "--headless" not in [str(a) for a in argv]:
        return
    _marks["chromium_launch"] = time.time()
    cdp = sys.modules.get("veritas.engine.cdp")
    session = getattr(cdp, "ChromiumSession", None)
    if session is not None:
        session.call = _first(session.call, "chromium_call")
        session.close = _first(session.close, "chromium_close")


def _bytecode_report() -> dict[str, Any]:
    """This project's loaded modules, split by whether a valid cached bytecode file existed."""
    import importlib.util

    from_source: list[str] = []
    cached: list[str] = []
    for name, module in sorted(sys.modules.items()):
        if not (name == "veritas" or name.startswith("veritas.")):
            continue
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py"):
            continue
        pyc = importlib.util.cache_from_source(origin)
        try:
            with open(pyc, "rb") as fh:
                header = fh.read(16)
            source_mtime = int(os.stat(origin).st_mtime) & 0xFFFFFFFF
            valid = int.from_bytes(header[8:12], "little") == source_mtime
        except OSError:
            valid = False
        (cached if valid else from_source).append(name)
    return {
        "dont_write_bytecode": sys.flags.dont_write_bytecode or sys.dont_write_bytecode,
        "pycache_prefix": sys.pycache_prefix,
        "from_source": from_source,
        "from_bytecode": cached,
    }


def _report() -> None:
    record: dict[str, Any] = {"site": _site, "imports": _imports, **_marks}
    if os.environ.get(MODULES_ENV) == "1":
        record["modules"] = sorted(sys.modules)
        record["bytecode"] = _bytecode_report()
    record["exit"] = time.time()
    os.write(2, (MARKER + json.dumps(record) + "\n").encode())


builtins.__import__ = _timed_import(builtins.__import__)
importlib.import_module = _timed_import(importlib.import_module)
sys.addaudithook(_on_audit_event)
atexit.register(_report)
