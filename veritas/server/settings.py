"""What ``veritas serve`` decides once, for every audit the backend runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from veritas.child.engines import BUNDLED_ENGINE
from veritas.parent.metrics import default_path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_CONCURRENT = 4


@dataclass(frozen=True)
class ServerSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    #: audits running at once; more wait (status ``queued``) until one ends
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    #: admit ``file:`` URLs (and ``synthetic:`` streams, which read local paths): tests only
    allow_file_urls: bool = False
    #: the metrics store; the history store is a sibling file (``history.sqlite3``)
    metrics_path: Path | None = None
    #: limit of one audit (the CLI's default)
    audit_timeout: float = 300.0
    #: the Queue's ``put_timeout``: how long the child waits for a parent it does not hear from
    put_timeout: float = 10.0
    #: the audit engine, ``package.module:function`` (checked before the server starts)
    engine: str = BUNDLED_ENGINE

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent {self.max_concurrent} must be >= 1")

    @property
    def store_path(self) -> Path:
        return self.metrics_path if self.metrics_path is not None else default_path()

    @property
    def history_path(self) -> Path:
        return self.store_path.with_name("history.sqlite3")
