"""Child of the pipe reference benchmark (internal): the same synthetic events, one
``multiprocessing.connection`` message each, no batching, no flow control — the floor any
transport pays to move them.

    python -m harness.tools.pipechild SYNTHETIC_URL      (reads {"address", "authkey"} on stdin)
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

from veritas.engine.synthetic import run_synthetic
from veritas.protocol.event import ProgressEvent


class PipeSink:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seq = 0

    def emit(
        self,
        type: str,
        phase: str,
        *,
        step: str = "",
        pct: float = 0.0,
        detail: str = "",
        summary: dict[str, Any] | None = None,
        data: bytes | None = None,
    ) -> ProgressEvent:
        event = ProgressEvent.stamped(
            "bench",
            self.seq,
            type,
            phase,
            step=step,
            pct=pct,
            detail=detail,
            summary=summary,
            data=data,
        )
        self.conn.send_bytes(pickle.dumps(event.as_tuple(), protocol=5))
        self.seq += 1
        return event


def main() -> int:
    from multiprocessing.connection import Client

    spec = json.loads(sys.stdin.readline())
    address = tuple(spec["address"]) if isinstance(spec["address"], list) else spec["address"]
    conn = Client(address, authkey=bytes.fromhex(spec["authkey"]))
    run_synthetic(sys.argv[1], PipeSink(conn).emit)
    conn.send_bytes(b"E")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
