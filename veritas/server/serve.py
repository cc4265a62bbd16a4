"""Running the app under uvicorn (``veritas serve``)."""

from __future__ import annotations

import contextlib

import uvicorn

from veritas.server.app import create_app
from veritas.server.settings import ServerSettings


def serve(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted; audits still running are cancelled (their trees killed)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws="auto",
        ws_max_size=1 << 20,
        lifespan="off",
        # A running audit's WebSocket is cancelled at shutdown; its child is killed with it.
        timeout_graceful_shutdown=5,
    )
    # uvicorn shuts down on Ctrl-C, then raises the signal again; the stop was asked for.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
