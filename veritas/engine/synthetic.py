"""Synthetic event streams: a load generator for benchmarks and transport tests.

``synthetic:?events=20000&payload=0&rate=0`` names a stream instead of a website. It is
deterministic (same parameters, same events apart from timestamps) and uses every event type.

Parameters (all optional):
  events=N         total events, audit_start and audit_complete included (default 50, min 2)
  payload=BYTES    every middle event is a ``screenshot`` carrying BYTES of data (default 0)
  png=K            K middle events are real PNG screenshots (64×48, a distinct colour each)
  rate=R           pace the stream at R events/s (default 0: as fast as possible)
  burst=B          with rate: B events back to back, then a pause, R events/s on average
  unicode=1        details carry emoji, RTL, CJK, combining marks, U+2028/9, NUL, a lone
                   surrogate, and a high and a low surrogate as two code points
  values=PATH      the middle events are read from PATH: a JSON list (UTF-8, surrogates
                   passed through) of {"step", "detail", "summary", "data_hex"} objects, one
                   ``log`` event each (exactness tests send any protocol value through)
  print_markers=1  the audit code prints forged ``##PROGRESS:`` lines (print, fd 1, a subprocess)
  crash_after=K    the process dies (exit 70) after K events
  hang_after=K     the process hangs after K events
  ignore_term=1    the process ignores SIGTERM (POSIX)
  spawn=N          the process starts N grandchildren that sleep for an hour, inherit its
                   stderr and are never waited for (what a leaky engine would leave behind)
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qsl, urlsplit

from veritas.protocol.event import Emit

_INT_PARAMS = (
    "events",
    "payload",
    "png",
    "burst",
    "unicode",
    "print_markers",
    "crash_after",
    "hang_after",
    "ignore_term",
    "spawn",
)
UNICODE_SAMPLE = (
    "emoji 🛒🔥 · RTL שלום مرحبا · CJK 日本語 · é\u0301 · z\u200bw\u200dj · \u2028\u2029 · nul\x00"
    " · \ud800 · pair-not-emoji \ud83d\ude00"
)
FORGED = '##PROGRESS:{"audit_id":"forged","seq":0,"type":"audit_complete","phase":"complete","step":"","pct":100,"detail":"","summary":{},"data":null,"timestamp":0}'


class SyntheticSpecError(ValueError):
    pass


def parse_spec(url: str) -> dict[str, float]:
    query = urlsplit(url).query
    spec: dict[str, float] = {"events": 50, "payload": 0, "png": 0, "rate": 0.0}
    for key, raw in parse_qsl(query, keep_blank_values=True):
        if key == "values":
            continue  # a path, read by run_synthetic
        if key not in (*_INT_PARAMS, "rate"):
            raise SyntheticSpecError(
                f"synthetic parameter {key!r} unknown; accepted: {', '.join((*_INT_PARAMS, 'rate'))}"
            )
        try:
            value = float(raw) if key == "rate" else int(raw)
        except ValueError:
            raise SyntheticSpecError(f"synthetic parameter {key}={raw!r} is not a number") from None
        if value < 0:
            raise SyntheticSpecError(f"synthetic parameter {key}={raw!r} must be >= 0")
        spec[key] = value
    if spec["events"] < 2:
        raise SyntheticSpecError(f"synthetic events={spec['events']:g} must be >= 2")
    return spec


def _payload(size: int) -> bytes:
    block = hashlib.sha256(b"veritas-synthetic").digest()
    return (block * (size // len(block) + 1))[:size]


def _png(index: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (64, 48), ((index * 53) % 256, (index * 97) % 256, 160))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _forge_stdout() -> None:
    print(FORGED, flush=True)
    os.write(1, (FORGED + "\n").encode())
    subprocess.run([sys.executable, "-c", f"print({FORGED!r})"], check=False)


def _emit_values(path: str, url: str, emit: Emit) -> None:
    from veritas.protocol.stdout_wire import loads_exact

    with open(path, "rb") as fh:
        items = loads_exact(fh.read())
    emit("audit_start", "init", step="start", summary={"url": url})
    for i, item in enumerate(items, 1):
        hex_data = item.get("data_hex")
        emit(
            "log",
            "scout",
            step=item.get("step", ""),
            pct=round(100.0 * i / (len(items) + 1), 3),
            detail=item.get("detail", ""),
            summary=item.get("summary", {}),
            data=None if hex_data is None else bytes.fromhex(hex_data),
        )
    emit("audit_complete", "complete", step="done", pct=100.0, summary={"n": len(items)})


def run_synthetic(url: str, emit: Emit) -> None:
    values = dict(parse_qsl(urlsplit(url).query)).get("values")
    if values:
        parse_spec(url)
        _emit_values(values, url, emit)
        return
    spec = parse_spec(url)
    total = int(spec["events"])
    payload = _payload(int(spec["payload"])) if spec["payload"] else None
    png_count = int(spec["png"])
    interval = 1.0 / spec["rate"] if spec["rate"] else 0.0
    burst = max(1, int(spec.get("burst", 1)))
    if spec.get("ignore_term") and hasattr(signal, "SIGTERM") and sys.platform != "win32":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    for _ in range(int(spec.get("spawn", 0))):
        subprocess.Popen(  # deliberately never waited for; it holds the child's stderr
            [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL
        )
    crash_after = int(spec.get("crash_after", -1) or -1)
    hang_after = int(spec.get("hang_after", -1) or -1)
    text = UNICODE_SAMPLE if spec.get("unicode") else "synthetic"
    start = time.monotonic()

    def pace(i: int) -> None:
        if i == crash_after:
            os._exit(70)
        if i == hang_after:
            while True:
                time.sleep(3600)
        if interval:
            delay = start + (i - i % burst) * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    pace(0)
    emit("audit_start", "init", step="start", detail=text, summary={"url": url})
    if spec.get("print_markers"):
        _forge_stdout()
    kinds = ("phase_start", "finding", "log", "finding", "phase_complete")
    phases = ("scout", "security", "vision", "graph", "judge")
    for i in range(1, total - 1):
        pace(i)
        pct = round(100.0 * i / total, 3)
        phase = phases[(i // 5) % len(phases)]
        if i <= png_count:
            emit(
                "screenshot",
                "vision",
                step=f"shot-{i}",
                pct=pct,
                detail=text,
                summary={"label": f"shot-{i}", "viewport": [64, 48]},
                data=_png(i),
            )
        elif payload is not None:
            emit(
                "screenshot",
                "vision",
                step=f"shot-{i}",
                pct=pct,
                summary={"label": f"shot-{i}"},
                # A distinct object per event, as real screenshots are: pickle would send
                # one shared bytes object only once per batch and flatter the Queue.
                data=(i.to_bytes(8, "big") + payload[8:])[: len(payload)],
            )
        else:
            kind = kinds[i % len(kinds)]
            emit(
                kind,
                phase,
                step=f"step-{i}",
                pct=pct,
                detail=f"{text} #{i}",
                summary={"i": i, "ok": i % 3 == 0, "ratio": i / 7},
            )
    pace(total - 1)
    emit(
        "audit_complete",
        "complete",
        step="done",
        pct=100.0,
        summary={"url": url, "events": total, "text": text},
    )
