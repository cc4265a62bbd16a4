"""The ``serve`` fixture: started backends, each with its own stores, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from veritas.server.settings import ServerSettings

from .support import LiveServer


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """``serve(**settings)``: a started backend with its own stores, stopped afterwards."""
    started: list[LiveServer] = []

    def make(**kwargs: Any) -> LiveServer:
        kwargs.setdefault("metrics_path", tmp_path / "metrics.sqlite3")
        kwargs.setdefault("allow_file_urls", True)
        server = LiveServer(ServerSettings(**kwargs))
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
