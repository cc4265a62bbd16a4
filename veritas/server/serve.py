"""Running the app under uvicorn (``veritas serve``)."""

from __future__ import annotations

import contextlib

import uvicorn
from fastapi import FastAPI

from veritas.server.app import create_app
from veritas.server.settings import ServerSettings

#: Seconds between the server's WebSocket pings.
PING_INTERVAL = 20.0


def uvicorn_config(
    settings: ServerSettings, app: FastAPI, *, log_level: str = "info"
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws="auto",
        ws_max_size=1 << 20,
        ws_ping_interval=PING_INTERVAL,
        # A slow client's pong waits behind every frame already in flight to it (megabytes of
        # screenshots in the kernel's buffers), so uvicorn's default 20 s would drop a client
        # that is only slow, and cancel its audit. A client silent for an audit's whole time
        # limit is gone.
        ws_ping_timeout=settings.audit_timeout,
        lifespan="off",
        # A running audit's WebSocket is cancelled at shutdown; its child is killed with it.
        timeout_graceful_shutdown=5,
    )


def serve(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted; audits still running are cancelled (their trees killed)."""
    config = uvicorn_config(settings, create_app(settings), log_level=log_level)
    # uvicorn shuts down on Ctrl-C, then raises the signal again; the stop was asked for.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()
