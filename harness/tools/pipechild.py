"""Child of the pipe reference benchmark (internal): the same synthetic events, one
``multiprocessing.connection`` message each, no batching, no flow control — the floor any
transport pays to move them.

    python -m harness.tools.pipechild SYNTHETIC_URL      (reads {"address", "authkey"} on stdin)
"""

from __future__ import annotations

import json
import pickle
import sys

from harness.tools.peerchild import Emitter
from veritas.engine.synthetic import run_synthetic


def main() -> int:
    from multiprocessing.connection import Client

    spec = json.loads(sys.stdin.readline())
    address = tuple(spec["address"]) if isinstance(spec["address"], list) else spec["address"]
    conn = Client(address, authkey=bytes.fromhex(spec["authkey"]))
    run_synthetic(
        sys.argv[1], Emitter(lambda row: conn.send_bytes(pickle.dumps(row, protocol=5))).emit
    )
    conn.send_bytes(b"E")
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
