"""Engines: the audit code the child runs, named ``package.module:function``.

An engine is any callable ``audit(url, tier, emit)`` (or ``async def``) importable in the child;
``emit(type, phase, *, step="", pct=0.0, detail="", summary=None, data=None)`` reports one
event. It emits ``audit_start`` first and exactly one ``audit_complete`` (its summary is the
final state) or ``audit_error`` last. An engine that also accepts a ``request_timeout`` keyword
is given the audit's per-request limit (the bundled engine does).

``load_engine`` is the one check of a spec: syntax, import, attribute, callable, signature, each
refused with one line naming the spec and what is wrong. The parent runs it before any audit
starts, in a child interpreter of its own (``python -P -m veritas.child.engines SPEC``), so the
engine is imported where and as the audit child will import it, and never in the parent.

Runs in the child: standard library only.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from veritas.protocol.event import Emit

if TYPE_CHECKING:
    from pathlib import Path

#: The variable that names the engine when no ``--engine`` is given.
ENGINE_ENV = "VERITAS_ENGINE"
#: The bundled engine, the default.
BUNDLED_ENGINE = "veritas.engine:run_audit"
#: What runs a ``synthetic:`` stream, whatever the engine (a transport test, not an audit).
SYNTHETIC = "veritas.engine.synthetic:run_synthetic"

_SPEC = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)
_FORM = "package.module:function"
_CALL = "audit(url, tier, emit)"


class EngineSpecError(ValueError):
    """A spec that names no usable engine; the message is one line."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def load_engine(spec: str) -> Callable[..., Any]:
    """The callable *spec* names, checked to be callable as ``audit(url, tier, emit)``."""
    if not _SPEC.fullmatch(spec):
        raise EngineSpecError(f"engine {spec!r} is not a spec; accepted: {_FORM}")
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise EngineSpecError(
            f"engine {spec!r}: module {module_name!r} cannot be imported ({_one_line(exc)})"
        ) from None
    if not hasattr(module, attribute):
        raise EngineSpecError(f"engine {spec!r}: module {module_name!r} has no {attribute!r}")
    found = getattr(module, attribute)
    if not callable(found):
        raise EngineSpecError(
            f"engine {spec!r}: {attribute!r} is a {type(found).__name__}, not callable as {_CALL}"
        )
    engine = cast("Callable[..., Any]", found)
    try:
        signature = inspect.signature(engine)
    except (TypeError, ValueError):
        return engine  # a builtin without a signature: its call will say
    try:
        signature.bind("url", "tier", print)
    except TypeError as exc:
        raise EngineSpecError(
            f"engine {spec!r}: {attribute}{signature} cannot be called as {_CALL} ({exc})"
        ) from None
    return engine


def _takes_request_timeout(engine: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(engine).parameters
    except (TypeError, ValueError):
        return False
    return "request_timeout" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


def run_engine(
    spec: str, url: str, tier: str, emit: Emit, request_timeout: float | None = None
) -> None:
    """Run the engine *spec* names on one audit; an ``async def`` engine under ``asyncio.run``."""
    engine = load_engine(spec)
    kwargs: dict[str, Any] = {}
    if request_timeout is not None and _takes_request_timeout(engine):
        kwargs["request_timeout"] = request_timeout
    result = engine(url, tier, emit, **kwargs)
    if inspect.iscoroutine(result):
        import asyncio  # only an async engine pays for it

        asyncio.run(result)


def _source_files(module: ModuleType) -> list[Path]:
    """The engine's source: every ``.py`` file of its top-level package, or its one module."""
    from pathlib import Path

    top = sys.modules.get(module.__name__.partition(".")[0], module)
    paths = getattr(top, "__path__", None)
    if paths:
        return sorted(
            path for directory in paths for path in Path(directory).rglob("*.py") if path.is_file()
        )
    file = getattr(top, "__file__", None)
    return [Path(file)] if file else []


def describe_engine(spec: str) -> dict[str, str | None]:
    """What a report records of the engine *spec* names: the spec, the distribution that
    provides it and its version (``unpackaged`` when none does), and a digest of its source
    files, which tells an edited engine from the one a report was made with."""
    # Only the check needs these: the audit child does not pay for importing them.
    import hashlib
    from importlib import metadata

    load_engine(spec)
    module = sys.modules[spec.partition(":")[0]]
    top = module.__name__.partition(".")[0]
    distributions = metadata.packages_distributions().get(top) or []
    distribution = distributions[0] if distributions else None
    version = metadata.version(distribution) if distribution else "unpackaged"
    h = hashlib.sha256()
    for path in _source_files(module):
        data = path.read_bytes()
        h.update(b"file %s %d\0" % (path.name.encode(), len(data)))
        h.update(data)
    return {
        "spec": spec,
        "distribution": distribution,
        "version": version,
        "source_digest": "sha256:" + h.hexdigest(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -P -m veritas.child.engines SPEC``: if SPEC names a usable engine, print its
    description (``describe_engine``) as one JSON line and exit 0; else its one-line reason on
    stderr and exit 2."""
    import json

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write(f"usage: python -m veritas.child.engines {_FORM}\n")
        return 2
    try:
        description = describe_engine(args[0])
    except EngineSpecError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.write(json.dumps(description) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
