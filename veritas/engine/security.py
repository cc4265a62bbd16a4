"""Security: response headers, HTTPS and mixed content, forms, cookies, redirects, TLS.

Header checks look at the start page only (one site, one set of findings; a ten-page audit
would otherwise repeat each missing header ten times). Everything else is checked per page.
``file:`` pages have no headers, cookies or transport, so only content checks apply to them.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from veritas.engine.findings import Finding
from veritas.engine.scout import Page

_SESSION_COOKIE = re.compile(r"sess|auth|token|login|sid|jwt", re.I)
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)", re.I)
_WEAK_TLS = frozenset({"SSLv2", "SSLv3", "TLSv1", "TLSv1.1"})
HEADER_CHECKS = (
    "strict-transport-security",
    "content-security-policy",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname or "", port or default


def header_checks(page: Page) -> tuple[dict[str, str], list[Finding]]:
    """Return ({header: present|missing|weak|n/a}, findings) for the start page."""
    url = page.final_url
    scheme = urllib.parse.urlsplit(url).scheme
    if page.result is None or scheme == "file":
        return dict.fromkeys(HEADER_CHECKS, "n/a"), []
    headers = page.result.headers
    status: dict[str, str] = {}
    findings: list[Finding] = []

    def add(kind: str, severity: str, title: str, header: str, value: str = "") -> None:
        findings.append(
            Finding("security", kind, severity, 1.0, title, url, text=value, detail=header)
        )

    hsts = headers.get("strict-transport-security", "")
    if scheme != "https":
        status["strict-transport-security"] = "n/a"
    elif not hsts:
        status["strict-transport-security"] = "missing"
        add(
            "missing_hsts",
            "medium",
            "No Strict-Transport-Security header",
            "strict-transport-security",
        )
    else:
        match = _MAX_AGE.search(hsts)
        if match is None or int(match.group(1)) < 15552000:
            status["strict-transport-security"] = "weak"
            add(
                "weak_hsts",
                "low",
                "HSTS max-age is under 180 days",
                "strict-transport-security",
                hsts,
            )
        else:
            status["strict-transport-security"] = "present"
    csp = headers.get("content-security-policy", "")
    if not csp:
        status["content-security-policy"] = "missing"
        add("missing_csp", "medium", "No Content-Security-Policy header", "content-security-policy")
    elif "'unsafe-inline'" in csp or "'unsafe-eval'" in csp:
        status["content-security-policy"] = "weak"
        add(
            "weak_csp",
            "low",
            "The CSP allows unsafe-inline or unsafe-eval",
            "content-security-policy",
            csp,
        )
    else:
        status["content-security-policy"] = "present"
    xfo = headers.get("x-frame-options", "").strip().lower()
    if xfo in ("deny", "sameorigin") or "frame-ancestors" in csp:
        status["x-frame-options"] = "present"
    else:
        status["x-frame-options"] = "weak" if xfo else "missing"
        add(
            "missing_clickjacking_protection",
            "medium",
            "Neither X-Frame-Options nor CSP frame-ancestors protects against framing",
            "x-frame-options",
            xfo,
        )
    xcto = headers.get("x-content-type-options", "").strip().lower()
    status["x-content-type-options"] = "present" if xcto == "nosniff" else "missing"
    if xcto != "nosniff":
        add(
            "missing_nosniff",
            "low",
            "X-Content-Type-Options is not nosniff",
            "x-content-type-options",
            xcto,
        )
    referrer = headers.get("referrer-policy", "").strip().lower()
    if not referrer:
        status["referrer-policy"] = "missing"
        add("missing_referrer_policy", "low", "No Referrer-Policy header", "referrer-policy")
    elif "unsafe-url" in referrer:
        status["referrer-policy"] = "weak"
        add(
            "weak_referrer_policy",
            "medium",
            "Referrer-Policy unsafe-url leaks full URLs",
            "referrer-policy",
            referrer,
        )
    else:
        status["referrer-policy"] = "present"
    return status, findings


def transport_checks(page: Page) -> list[Finding]:
    url = page.final_url
    scheme = urllib.parse.urlsplit(url).scheme
    findings: list[Finding] = []
    if scheme == "http":
        findings.append(
            Finding("security", "no_https", "high", 1.0, "The page is served over plain HTTP", url)
        )
    if page.result is not None and page.result.tls_version in _WEAK_TLS:
        findings.append(
            Finding(
                "security",
                "weak_tls",
                "high",
                1.0,
                f"The server negotiated an obsolete protocol ({page.result.tls_version})",
                url,
            )
        )
    if page.result is not None:
        first = _origin(page.url)[1]
        for hop in page.result.redirects:
            target_host = _origin(hop.location)[1]
            if target_host and target_host != first:
                findings.append(
                    Finding(
                        "security",
                        "cross_domain_redirect",
                        "medium",
                        1.0,
                        f"Redirect from {_origin(hop.url)[1]} to another domain ({target_host})",
                        page.url,
                        text=hop.location,
                    )
                )
            if hop.location.startswith("http:") and hop.url.startswith("https:"):
                findings.append(
                    Finding(
                        "security",
                        "https_downgrade",
                        "high",
                        1.0,
                        "A redirect leaves HTTPS for plain HTTP",
                        page.url,
                        text=hop.location,
                    )
                )
    return findings


def content_checks(page: Page) -> list[Finding]:
    doc = page.doc
    if doc is None:
        return []
    url = page.final_url
    scheme = urllib.parse.urlsplit(url).scheme
    findings: list[Finding] = []
    if scheme == "https":
        for res in doc.resources:
            if res.url.startswith("http:"):
                active = res.kind in ("script", "iframe", "stylesheet", "embed")
                findings.append(
                    Finding(
                        "security",
                        "mixed_content",
                        "high" if active else "low",
                        1.0,
                        f"HTTPS page loads a {res.kind} over HTTP",
                        url,
                        res.selector,
                        res.url,
                    )
                )
    page_origin = _origin(url)
    for form in doc.forms:
        has_password = any(c.kind == "password" for c in form.fields)
        action_scheme = urllib.parse.urlsplit(form.action).scheme
        if action_scheme == "http" and (scheme != "http" or has_password):
            findings.append(
                Finding(
                    "security",
                    "form_over_http",
                    "high" if has_password else "medium",
                    1.0,
                    "A form submits over plain HTTP",
                    url,
                    form.selector,
                    form.action,
                )
            )
        if action_scheme in ("http", "https") and _origin(form.action) != page_origin:
            findings.append(
                Finding(
                    "security",
                    "cross_origin_form",
                    "high" if has_password else "medium",
                    0.9,
                    f"A form posts to another origin ({_origin(form.action)[1]})",
                    url,
                    form.selector,
                    form.action,
                )
            )
    if scheme == "http":
        for control in doc.fields:
            if control.kind == "password":
                findings.append(
                    Finding(
                        "security",
                        "password_over_http",
                        "critical",
                        1.0,
                        "A password field on a page served over plain HTTP",
                        url,
                        control.selector,
                        control.name,
                    )
                )
    return findings


def cookie_checks(page: Page) -> list[Finding]:
    if page.result is None:
        return []
    findings: list[Finding] = []
    for cookie in page.result.cookies:
        https = cookie.set_by.startswith("https:")
        session = bool(_SESSION_COOKIE.search(cookie.name))
        where = f"cookie {cookie.name}"
        if https and not cookie.secure:
            findings.append(
                Finding(
                    "security",
                    "cookie_without_secure",
                    "medium",
                    1.0,
                    f"Cookie {cookie.name!r} lacks the Secure flag",
                    page.url,
                    text=where,
                )
            )
        if not cookie.httponly:
            findings.append(
                Finding(
                    "security",
                    "cookie_without_httponly",
                    "medium" if session else "low",
                    1.0 if session else 0.6,
                    f"Cookie {cookie.name!r} lacks the HttpOnly flag",
                    page.url,
                    text=where,
                )
            )
        if not cookie.samesite:
            findings.append(
                Finding(
                    "security",
                    "cookie_without_samesite",
                    "low",
                    0.8,
                    f"Cookie {cookie.name!r} has no SameSite attribute",
                    page.url,
                    text=where,
                )
            )
        elif cookie.samesite == "none" and not cookie.secure:
            findings.append(
                Finding(
                    "security",
                    "cookie_samesite_none_insecure",
                    "medium",
                    1.0,
                    f"Cookie {cookie.name!r} is SameSite=None without Secure",
                    page.url,
                    text=where,
                )
            )
    return findings


def check_site(pages: list[Page]) -> tuple[dict[str, Any], list[Finding]]:
    """All security findings for the audited pages, and the phase summary."""
    headers, findings = header_checks(pages[0])
    for page in pages:
        findings += transport_checks(page)
        findings += content_checks(page)
        findings += cookie_checks(page)
    start = pages[0]
    summary: dict[str, Any] = {
        "scheme": urllib.parse.urlsplit(start.final_url).scheme,
        "https": start.final_url.startswith("https:"),
        "tls_version": start.result.tls_version if start.result else "",
        "headers": headers,
        "cookies_checked": sum(len(p.result.cookies) for p in pages if p.result),
        "forms_checked": sum(len(p.doc.forms) for p in pages if p.doc),
    }
    return summary, findings
