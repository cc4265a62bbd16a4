"""Test-only fault injection into the child's Queue path (``VERITAS_IPC_FAULT``).

Never set this in production: it exists so that tests and ``harness selftest`` can prove that
failover loses nothing and that the harness catches a faulty transport. Accepted values:

  connect      the child cannot reach the Queue (it fails over before the first event)
  sever@K      the Queue connection is cut after K events were sent over it
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV = "VERITAS_IPC_FAULT"
KINDS = ("connect", "sever")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    kind: str
    k: int = 0


def parse_fault(raw: str | None) -> Fault | None:
    if raw is None or raw.strip() == "":
        return None
    kind, _, arg = raw.strip().partition("@")
    if kind not in KINDS:
        raise FaultSpecError(f"{ENV}={raw!r} unknown; accepted: connect, sever@K")
    if kind == "connect":
        return Fault(kind)
    try:
        k = int(arg)
    except ValueError:
        raise FaultSpecError(f"{ENV}={raw!r}: K must be an integer (e.g. sever@10)") from None
    if k < 0:
        raise FaultSpecError(f"{ENV}={raw!r}: K must be >= 0")
    return Fault(kind, k)


def fault_from_env() -> Fault | None:
    return parse_fault(os.environ.get(ENV))
