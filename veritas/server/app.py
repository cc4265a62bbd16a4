"""The backend's routes (thin: each checks its input, calls one service, returns plain data).

| route | answer |
|---|---|
| ``POST /api/audit/start`` | ``{"audit_id", "status": "queued", "ws_url"}``; 422 naming the field |
| ``WS /api/audit/stream/{id}`` | the audit's frames (``veritas.server.stream``) |
| ``GET /api/audit/{id}/status`` | status, final state, IPC outcome; 404 |
| ``GET /api/audits`` | history, newest first, ``limit`` (1–500) and ``offset`` |
| ``GET /api/rollout/status`` | the figures of ``veritas rollout status --json`` |
| ``GET /metrics`` | Prometheus text format |
| ``GET /`` | the live audit page (``static/``) |
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from veritas.parent.metrics import MetricsStore, audit_purpose
from veritas.parent.mode import ConfigError
from veritas.parent.rollout_status import rollout_figures
from veritas.server.history import HistoryStore
from veritas.server.metrics_export import CONTENT_TYPE, AuditMetrics
from veritas.server.registry import AuditRegistry
from veritas.server.requests import InputError, parse_start
from veritas.server.settings import ServerSettings
from veritas.server.stream import stream_audit

#: The page loads nothing from elsewhere and runs only its own script; images are data: URLs.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/app.css": ("app.css", "text/css; charset=utf-8"),
}
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    store = MetricsStore(settings.store_path)
    history = HistoryStore(settings.history_path)
    metrics = AuditMetrics(audit_purpose())
    registry = AuditRegistry(settings, history, store, metrics)
    app = FastAPI(title="Veritas", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.registry = registry

    @app.exception_handler(InputError)
    async def refused(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(exc.to_json(), status_code=422)

    @app.exception_handler(ConfigError)
    async def misconfigured(request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": f"server setting: {exc}"}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.post("/api/audit/start")
    async def start(request: Request) -> dict[str, Any]:
        parsed = parse_start(await request.body(), allow_file_urls=settings.allow_file_urls)
        entry = registry.create(parsed)
        scheme = "wss" if request.url.scheme == "https" else "ws"
        return {
            "audit_id": entry.audit_id,
            "status": entry.status,
            "mode": entry.mode,
            "ws_url": f"{scheme}://{request.url.netloc}/api/audit/stream/{entry.audit_id}",
        }

    @app.websocket("/api/audit/stream/{audit_id}")
    async def stream(websocket: WebSocket, audit_id: str) -> None:
        await stream_audit(websocket, registry, audit_id)

    @app.get("/api/audit/{audit_id}/status")
    async def status(audit_id: str) -> dict[str, Any]:
        found = registry.status(audit_id)
        if found is None:
            raise StarletteHTTPException(404, f"no audit {audit_id!r}")
        return found

    @app.get("/api/audits")
    async def audits(
        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)
    ) -> dict[str, Any]:
        total, page = history.page(limit, offset)
        return {"total": total, "limit": limit, "offset": offset, "audits": page}

    @app.get("/api/rollout/status")
    async def rollout() -> dict[str, Any]:
        return rollout_figures(store)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    for path, (name, media_type) in _STATIC.items():
        app.add_api_route(path, _static(name, media_type), methods=["GET"])
    return app


def _static(name: str, media_type: str) -> Any:
    body = files("veritas.server").joinpath("static", name).read_bytes()

    async def serve() -> Response:
        return Response(body, media_type=media_type, headers=_HEADERS)

    serve.__name__ = f"static_{name.replace('.', '_')}"
    return serve
