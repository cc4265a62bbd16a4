"""``run_audit``: the five phases, in order, reported through an ``emit`` callable.

Event order (every audit): ``audit_start`` (init); per phase ``phase_start``, its ``log``,
``finding`` and ``screenshot`` events, then ``phase_complete`` or ``phase_error``; finally one
``audit_complete`` (phase ``complete``; its summary is the final state, see
``veritas/state_schema.json``) or one ``audit_error``.

Where the page text travels: the scout emits one ``log`` event per fetched page (step
``page``) whose summary is the full page record, including ``text``, the page's whole visible
text (from at most 5 MB of body). The final state keeps only ``text_chars`` and
``text_sha256`` per page, so it stays small while still pinning the text down.

Bad input never raises: a start URL that cannot be fetched or is not an HTML page ends in
``audit_error`` (summary ``error.kind`` names the condition); problems with other pages, and
a body cut at the size cap, are findings of a completed audit.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Final

from veritas.engine import screenshots
from veritas.engine.fetch import MAX_BYTES, FetchError, check_url
from veritas.engine.findings import Finding, dedupe
from veritas.engine.scout import Crawl, Page, load_page, page_record, scout_findings
from veritas.protocol.event import TIERS, Emit

# The later phases' modules (security, darkpatterns, graph, judge, render and Pillow) are
# imported by the phase that uses them: an audit that ends early never loads them, and the
# others load them while the browser starts up.

PAGE_BUDGET: Final = {"quick_scan": 1, "standard_audit": 5, "deep_forensic": 10}
STATE_VERSION: Final = 1
#: Overall progress (pct) at the start of each phase.
_PHASE_PCT: Final = {"scout": 2.0, "security": 35.0, "vision": 45.0, "graph": 80.0, "judge": 90.0}
_PHASE_SPAN: Final = {"scout": 33.0, "security": 10.0, "vision": 35.0, "graph": 10.0, "judge": 10.0}


class AuditFailed(Exception):
    """Ends the audit with ``audit_error`` (a condition of the input, not a bug)."""

    def __init__(self, phase: str, kind: str, message: str) -> None:
        super().__init__(message)
        self.phase = phase
        self.kind = kind
        self.message = message


class _Audit:
    def __init__(self, url: str, tier: str, emit: Emit, timeout: float) -> None:
        self.camera: screenshots.Camera | None = None
        self.renderer = "pillow"
        self.url = url
        self.tier = tier
        self.emit = emit
        self.timeout = timeout
        self.findings: list[dict[str, Any]] = []
        self.pages: list[Page] = []
        self.state: dict[str, Any] = {}

    # -- emission helpers ----------------------------------------------------------------
    def pct(self, phase: str, fraction: float) -> float:
        return round(_PHASE_PCT[phase] + _PHASE_SPAN[phase] * min(max(fraction, 0.0), 1.0), 1)

    def log(self, phase: str, step: str, detail: str, fraction: float, **summary: Any) -> None:
        self.emit(
            "log", phase, step=step, pct=self.pct(phase, fraction), detail=detail, summary=summary
        )

    def report(self, phase: str, findings: list[Finding], fraction: float) -> list[dict[str, Any]]:
        out = []
        for finding in dedupe(findings):
            record = finding.to_json(f"F{len(self.findings) + 1:04d}")
            self.findings.append(record)
            out.append(record)
            self.emit(
                "finding",
                phase,
                step=finding.type,
                pct=self.pct(phase, fraction),
                detail=f"{finding.severity}: {finding.title}",
                summary=record,
            )
        return out

    # -- phases --------------------------------------------------------------------------
    def scout(self) -> dict[str, Any]:
        budget = PAGE_BUDGET[self.tier]
        start = load_page(self.url, 0, self.timeout)
        if start.error_kind:
            raise AuditFailed("scout", start.error_kind, start.error)
        crawl = Crawl(start, budget, self.timeout)
        page: Page | None = start
        while page is not None:
            index = len(crawl.pages)
            self.log(
                "scout",
                "page",
                f"page {index}/{budget}: {page.url} ({_status_text(page)})",
                index / budget,
                **page_record(page, full=True),
            )
            self.report("scout", scout_findings(page), index / budget)
            page = crawl.next_page()
        self.pages = crawl.pages
        ok = [p for p in self.pages if p.ok]
        return {
            "site": urllib.parse.urlsplit(start.final_url).netloc or "(local files)",
            "page_budget": budget,
            "pages_fetched": len(self.pages),
            "pages_ok": len(ok),
            "pages": [
                {"url": p.url, "final_url": p.final_url, "ok": p.ok, "status": _status_text(p)}
                for p in self.pages
            ],
            "size_cap_bytes": MAX_BYTES,
            "size_cap_hit": any(p.result is not None and p.result.truncated for p in self.pages),
        }

    def security(self) -> dict[str, Any]:
        from veritas.engine import security

        summary, findings = security.check_site(self.pages)
        records = self.report("security", findings, 1.0)
        summary["findings"] = len(records)
        return summary

    def vision(self) -> dict[str, Any]:
        from veritas.engine import darkpatterns

        renderer, camera = self.renderer, self.camera
        viewports = [screenshots.DESKTOP]
        if self.tier != "quick_scan":
            viewports.append(screenshots.MOBILE)
        pages = [p for p in self.pages if p.ok]
        shots: list[dict[str, Any]] = []
        total = max(len(pages) * len(viewports), 1)
        try:
            for page_index, page in enumerate(pages):
                captured = self.capture(page, viewports, camera, len(shots) / total)
                for viewport, (png, used) in zip(viewports, captured, strict=True):
                    shots.append(
                        self.screenshot(page, page_index, viewport, png, used, len(shots) / total)
                    )
        finally:
            if camera is not None:
                camera.close()
        found: list[Finding] = []
        for page in pages:
            assert page.doc is not None
            found += darkpatterns.detect(page.doc, page.final_url)
        records = self.report("vision", found, 1.0)
        counts: dict[str, int] = {}
        for record in records:
            counts[record["type"]] = counts.get(record["type"], 0) + 1
        self.state["renderer"] = renderer
        self.state["screenshots"] = shots
        return {
            "renderer": renderer,
            "screenshots": len(shots),
            "renderer_fallbacks": sum(1 for s in shots if s["renderer"] != renderer),
            "dark_patterns": dict(sorted(counts.items())),
        }

    def capture(
        self,
        page: Page,
        viewports: list[screenshots.Viewport],
        camera: screenshots.Camera | None,
        fraction: float,
    ) -> list[tuple[bytes, str]]:
        """(PNG, renderer used) per viewport; the built-in renderer when Chromium fails."""
        doc = page.doc
        assert doc is not None
        url = page.final_url
        results: list[bytes | str] = []
        if camera is not None:
            base = doc.base_url or url
            for viewport in viewports:
                try:
                    results.append(camera.shoot(page.html, base, viewport))
                except (OSError, RuntimeError) as exc:
                    results.append(str(exc))
        out: list[tuple[bytes, str]] = []
        for i, viewport in enumerate(viewports):
            result = results[i] if results else ""
            if isinstance(result, bytes):
                out.append((result, "chromium"))
                continue
            if result:
                note = f"Chromium failed ({result}); drawn by the built-in renderer"
                self.log("vision", "renderer_fallback", note, fraction, page_url=url)
            from veritas.engine import render

            out.append((render.render_page(doc, url, viewport.width, viewport.height), "pillow"))
        return out

    def screenshot(
        self,
        page: Page,
        index: int,
        viewport: screenshots.Viewport,
        png: bytes,
        used: str,
        fraction: float,
    ) -> dict[str, Any]:
        from veritas.pixels import pixel_digest

        url = page.final_url
        label = f"page{index + 1}-{viewport.label}"
        # Computed here, in the child, from the bytes the event carries: a receiver that finds
        # other pixels in ``data`` knows the transport changed them, not the capture.
        digest = pixel_digest(png)
        entry = {
            "label": label,
            "page_url": url,
            "viewport": {
                "name": viewport.label,
                "width": viewport.width,
                "height": viewport.height,
            },
            "renderer": used,
            "digest": digest,
            "pixel_digest": digest,
        }
        self.emit(
            "screenshot",
            "vision",
            step=label,
            pct=self.pct("vision", fraction),
            detail=f"{viewport.label} {viewport.width}×{viewport.height} of {url} ({used})",
            summary=entry,
            data=png,
        )
        return entry

    def graph(self) -> dict[str, Any]:
        from veritas.engine import graph

        site_graph = graph.build_graph(self.pages)
        records = self.report("graph", graph.inconsistencies(site_graph, self.pages), 1.0)
        result = site_graph.to_json()
        result["inconsistencies"] = [r["id"] for r in records]
        self.state["graph"] = result
        return {
            "entity_counts": result["entity_counts"],
            "edges": len(result["edges"]),
            "inconsistencies": len(records),
        }

    def judge(self) -> dict[str, Any]:
        from veritas.engine import judge

        ok = sum(1 for p in self.pages if p.ok)
        verdict = judge.judge(self.findings, ok, len(self.pages))
        self.state["verdict"] = verdict
        return {"trust_score": verdict["trust_score"], "risk_level": verdict["risk_level"]}


def _status_text(page: Page) -> str:
    if page.error_kind:
        return page.error_kind
    if page.result is not None and page.result.status is not None:
        return f"HTTP {page.result.status}"
    return "file"


def _severity_counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = {severity: 0 for severity in ("critical", "high", "medium", "low", "info")}
    for finding in findings:
        counts[finding["severity"]] += 1
    return counts


def run_audit(url: str, tier: str, emit: Emit, *, request_timeout: float = 10.0) -> None:
    """Audit *url* at *tier*, reporting every event through *emit*; never raises for bad input."""
    url_text = url if isinstance(url, str) else repr(url)
    tier_text = tier if isinstance(tier, str) else repr(tier)
    emit(
        "audit_start",
        "init",
        step="start",
        pct=0.0,
        detail=f"auditing {url_text} ({tier_text})",
        summary={"url": url_text, "tier": tier_text, "state_version": STATE_VERSION},
    )
    audit = _Audit(url_text, tier_text, emit, request_timeout)
    phase = "init"
    try:
        if tier_text not in TIERS:
            raise AuditFailed(
                "init", "unknown_tier", f"tier {tier_text!r} unknown; accepted: {', '.join(TIERS)}"
            )
        try:
            check_url(url_text)
        except FetchError as exc:
            raise AuditFailed("init", exc.kind, exc.message) from None
        try:
            audit.renderer, chromium = screenshots.choose_renderer()
        except screenshots.RendererError as exc:
            raise AuditFailed("init", "renderer_unavailable", str(exc)) from None
        if chromium is not None:
            # Launched now, it starts up while the pages are fetched and checked; the vision
            # phase waits for it only if it is not up by then.
            audit.camera = screenshots.Camera(chromium)
            audit.camera.start()
        summaries: dict[str, Any] = {}
        for phase, step in (
            ("scout", audit.scout),
            ("security", audit.security),
            ("vision", audit.vision),
            ("graph", audit.graph),
            ("judge", audit.judge),
        ):
            emit(
                "phase_start",
                phase,
                step=phase,
                pct=audit.pct(phase, 0.0),
                detail=f"{phase} started",
            )
            try:
                try:
                    summaries[phase] = step()
                except AuditFailed:
                    raise
                except Exception as exc:  # a page the rules did not foresee; never a traceback
                    raise AuditFailed(
                        phase, "internal_error", f"{phase} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            except AuditFailed as exc:
                emit(
                    "phase_error",
                    phase,
                    step=exc.kind,
                    pct=audit.pct(phase, 1.0),
                    detail=exc.message,
                    summary={"error": {"kind": exc.kind, "message": exc.message}},
                )
                raise
            emit(
                "phase_complete",
                phase,
                step=phase,
                pct=audit.pct(phase, 1.0),
                detail=f"{phase} complete",
                summary=summaries[phase],
            )
    except AuditFailed as exc:
        emit(
            "audit_error",
            exc.phase,
            step=exc.kind,
            pct=100.0,
            detail=exc.message,
            summary={
                "url": url_text,
                "tier": tier_text,
                "error": {"kind": exc.kind, "message": exc.message, "phase": exc.phase},
            },
        )
        return
    finally:
        if audit.camera is not None:  # an audit that ended before its vision phase
            audit.camera.close()
    state = final_state(audit, summaries)
    verdict = state["verdict"]
    emit(
        "audit_complete",
        "complete",
        step="complete",
        pct=100.0,
        detail=f"trust score {verdict['trust_score']}/100 ({verdict['risk_level']}), "
        f"{len(audit.findings)} findings",
        summary=state,
    )


def final_state(audit: _Audit, summaries: dict[str, Any]) -> dict[str, Any]:
    pages = audit.pages
    return {
        "state_version": STATE_VERSION,
        "url": audit.url,
        "final_url": pages[0].final_url,
        "tier": audit.tier,
        "status": "complete",
        "renderer": audit.state["renderer"],
        "page_budget": PAGE_BUDGET[audit.tier],
        "pages": [page_record(page, full=False) for page in pages],
        "conditions": sorted(
            {f["type"] for f in audit.findings if f["category"] == "availability"}
        ),
        "security": summaries["security"],
        "screenshots": audit.state["screenshots"],
        "findings": audit.findings,
        "finding_counts": _severity_counts(audit.findings),
        "graph": audit.state["graph"],
        "verdict": audit.state["verdict"],
    }
