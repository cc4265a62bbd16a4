"""The HTTP routes: refusals name the field, history, rollout figures, metrics, the page."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import websockets

from .support import LiveServer, receive

BAD_STARTS = [
    (b"{not json", "body", "not JSON"),
    (b"[1, 2]", "body", "not a JSON object"),
    (b'{"tier": "quick_scan"}', "url", "url is required"),
    (b'{"url": "http://x.test/", "tier": "fast"}', "tier", "accepted: quick_scan, standard_audit"),
    (b'{"url": "ftp://x.test/"}', "url", "scheme 'ftp' is not supported; accepted: http, https"),
    (b'{"url": "http://x.test/", "ipc": "pipe"}', "ipc", "accepted: queue, stdout"),
    (b'{"url": "http://x.test/", "colour": 1}', "body", "field 'colour' is unknown"),
    (b'{"url": "file:///etc/passwd"}', "url", "--allow-file-urls"),
    (b'{"url": "synthetic:?events=5"}', "url", "--allow-file-urls"),
]


@pytest.mark.parametrize(("body", "field", "says"), BAD_STARTS)
def test_a_bad_start_is_a_422_naming_the_field(
    serve: Any, body: bytes, field: str, says: str
) -> None:
    server: LiveServer = serve(allow_file_urls=False)
    status, answer = server.request("POST", "/api/audit/start", body)
    assert status == 422
    assert answer["field"] == field
    assert says in answer["detail"]
    assert "Traceback" not in json.dumps(answer)


def test_unknown_ids_and_a_second_client(serve: Any) -> None:
    server: LiveServer = serve()
    status, answer = server.request("GET", "/api/audit/nope/status")
    assert (status, answer) == (404, {"detail": "no audit 'nope'"})
    unknown = asyncio.run(receive(server.ws_url("nope")))
    assert (unknown.close_code, unknown.events) == (4404, [])
    assert "no audit 'nope'" in unknown.close_reason

    audit_id = server.start_audit("synthetic:?events=40&rate=40", ipc="queue")

    async def two_clients() -> tuple[Any, Any]:
        first = asyncio.create_task(receive(server.ws_url(audit_id)))
        await asyncio.sleep(0.3)
        second = await receive(server.ws_url(audit_id))
        return await first, second

    first, second = asyncio.run(two_clients())
    assert second.close_code == 4409 and "already has its client" in second.close_reason
    assert first.close_code == 1000 and len(first.events) == 40
    again = asyncio.run(receive(server.ws_url(audit_id)))
    assert again.close_code == 4409


def test_status_history_rollout_and_metrics(serve: Any, tmp_path: Path) -> None:
    server: LiveServer = serve()
    ids = [server.start_audit("synthetic:?events=30", ipc=mode) for mode in ("queue", "stdout")]
    for audit_id in ids:
        got = asyncio.run(receive(server.ws_url(audit_id)))
        assert got.close_code == 1000
    status = server.wait_status(ids[0], "completed")
    assert status["ipc_outcome"]["events_by_transport"] == {"queue": 30, "stdout": 0}
    assert status["final_state"] is not None

    code, page = server.request("GET", "/api/audits?limit=1&offset=0")
    assert code == 200 and page["total"] == 2
    assert [a["audit_id"] for a in page["audits"]] == [ids[1]]  # newest first
    code, page = server.request("GET", "/api/audits?limit=1&offset=1")
    assert [a["audit_id"] for a in page["audits"]] == [ids[0]]
    code, _ = server.request("GET", "/api/audits?limit=0")
    assert code == 422

    code, rollout = server.request("GET", "/api/rollout/status")
    cli = subprocess.run(
        [sys.executable, "-m", "veritas", "rollout", "status", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "VERITAS_METRICS_DB": str(tmp_path / "metrics.sqlite3")},
    )
    assert code == 200 and rollout == json.loads(cli.stdout)
    assert rollout["audits_by_mode"] == {"queue": 1, "stdout": 1}

    code, text = server.request("GET", "/metrics")
    assert code == 200
    assert (
        'veritas_audits_total{mode_requested="queue",mode_used="queue",outcome="completed",purpose="production"} 1.0'
        in text
    )
    assert 'veritas_events_total{transport="stdout"} 30.0' in text


def test_the_page_and_its_policy(serve: Any) -> None:
    server: LiveServer = serve()
    import urllib.request

    with urllib.request.urlopen(server.base + "/") as resp:
        csp = resp.headers["Content-Security-Policy"]
        html = resp.read().decode()
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert '<script src="/static/app.js"' in html
    with urllib.request.urlopen(server.base + "/static/app.js") as resp:
        script = resp.read().decode()
    # What an audited page says is only ever text on this page.
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_a_websocket_from_a_foreign_path_is_refused(serve: Any) -> None:
    server: LiveServer = serve()

    async def attempt() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/api/nothing"):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(attempt())
