"""Plugin state, kept in ``config.stash`` (never as attributes hung on ``config``)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harness.corpus.cases import Corpus, load_corpus
from harness.corpus.siteserver import SiteServer, serve_sites
from harness.plugin.options import HarnessOptions
from harness.report.result import CaseResult, StageReport

if TYPE_CHECKING:
    from harness.plugin.backend import Backend


def new_run_id() -> str:
    """Sorts by time: UTC timestamp to the millisecond, then the controller's pid."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%S") + f"{now.microsecond // 1000:03d}Z-{os.getpid()}"


def is_worker(config: pytest.Config) -> bool:
    """The one place that reads pytest-xdist's attribute."""
    return hasattr(config, "workerinput")


@dataclass
class HarnessState:
    options: HarnessOptions
    run_id: str
    started: float
    results: list[CaseResult] = field(default_factory=list)
    corpus: Corpus | None = None
    corpus_digest: str | None = None
    collected: int = 0
    workers: int = 0
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    report_path: Path | None = None
    #: The report this run wrote (the terminal summary shows it; it never re-reads the file).
    report: StageReport | None = None
    _server: SiteServer | None = None
    _backend: Backend | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def load_corpus(self) -> Corpus:
        if self.corpus is None:
            self.corpus = load_corpus(list(self.options.corpus))
            self.corpus_digest = self.corpus.digest
        return self.corpus

    def server(self) -> SiteServer:
        """The site server of this process (one per xdist worker), started on first use."""
        if self._server is None:
            corpus = self.load_corpus()
            self._server = self._stack.enter_context(serve_sites(list(corpus.sites_dirs)))
        return self._server

    def backend(self) -> Backend:
        """The backend of this process (``--through ws``; one per xdist worker), started on
        first use, stopped with the site server."""
        if self._backend is None:
            from harness.plugin.backend import Backend  # the web stack, only when asked for

            opts = self.options
            backend = Backend(
                opts.report_dir / ".work" / f"{self.run_id}.backend-{os.getpid()}",
                engine=opts.engine,
                # a case's stdout and Queue runs, then its noise runs, never more at once
                max_concurrent=2 + opts.noise_runs,
            ).start()
            self._stack.callback(backend.stop)
            self._backend = backend
        return self._backend

    def close_server(self) -> None:
        self._stack.close()
        self._server = None
        self._backend = None

    @property
    def work_dir(self) -> Path:
        """Where this run's artifacts wait for the report writer (same file system)."""
        return self.options.report_dir / ".work" / self.run_id


STATE = pytest.StashKey[HarnessState]()


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (0.0 where the platform cannot say)."""
    try:
        import resource
    except ImportError:  # Windows
        import psutil

        return round(getattr(psutil.Process().memory_info(), "peak_wset", 0) / 1e6, 1)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / 1e6 if sys.platform == "darwin" else peak / 1e3, 1)
