"""The test-only start fields (``audit_id``, ``fault``, ``request_timeout``, ``timeout``):
refused unless the server runs with ``--allow-file-urls``, checked when admitted, and applied
to that one audit (its child's id, its fault) and no other."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from veritas.server.requests import TEST_FIELDS

from .support import LiveServer, receive

VALUES: dict[str, Any] = {
    "audit_id": "case-a",
    "fault": "sever@10",
    "request_timeout": 5,
    "timeout": 60,
}


def test_refused_without_allow_file_urls(serve: Any) -> None:
    server: LiveServer = serve(allow_file_urls=False)
    for name in TEST_FIELDS:
        body = json.dumps({"url": "http://x.test/", name: VALUES[name]}).encode()
        status, answer = server.request("POST", "/api/audit/start", body)
        assert status == 422, (name, answer)
        assert answer["field"] == name
        assert f"field {name!r} is test-only" in answer["detail"]
        assert "--allow-file-urls" in answer["detail"]


def test_checked_when_admitted(serve: Any) -> None:
    server: LiveServer = serve()
    bad = [
        ("audit_id", "", "accepted: 1 to 128"),
        ("audit_id", "../x", "accepted: 1 to 128"),
        ("fault", "explode@3", "accepted: connect, or K@N"),
        ("fault", "", "is empty"),
        ("timeout", 0, "accepted: seconds > 0"),
        ("request_timeout", True, "accepted: seconds > 0"),
        ("timeout", "60", "accepted: seconds > 0"),
    ]
    for name, value, says in bad:
        body = json.dumps({"url": "synthetic:?events=5", name: value}).encode()
        status, answer = server.request("POST", "/api/audit/start", body)
        assert status == 422, (name, value, answer)
        assert answer["field"] == name and says in answer["detail"], answer


def test_one_audit_id_for_two_audits_and_a_fault_in_one_of_them(serve: Any) -> None:
    server: LiveServer = serve()

    def start(ipc: str, **extra: Any) -> str:
        body = {"url": "synthetic:?events=60&rate=600", "ipc": ipc, "audit_id": "case-a"}
        status, answer = server.request(
            "POST", "/api/audit/start", json.dumps({**body, **extra}).encode()
        )
        assert status == 200, answer
        assert answer["audit_id"] != "case-a"  # the backend's own id stays unique
        return str(answer["audit_id"])

    plain, faulty = start("queue"), start("queue", fault="sever@10", timeout=60)

    async def both() -> list[Any]:
        return list(
            await asyncio.gather(receive(server.ws_url(plain)), receive(server.ws_url(faulty)))
        )

    clean, severed = asyncio.run(both())
    for got in (clean, severed):
        assert got.close_code == 1000 and got.outcome is not None
        assert len(got.events) == 60
        assert {e["audit_id"] for e in got.events} == {"case-a"}
    assert clean.outcome["events_by_transport"] == {"queue": 60, "stdout": 0}
    assert clean.outcome["fallback"] is False and clean.outcome["ipc_faults"] == []
    assert severed.outcome["fallback"] is True
    assert severed.outcome["events_by_transport"]["stdout"] > 0
    assert severed.outcome["events_by_transport"]["queue"] >= 10
