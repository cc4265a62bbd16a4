"""Security checks, one rule per test, on pages built in memory and on the live test site."""

from __future__ import annotations

from veritas.engine.fetch import RawCookie, RedirectHop, parse_set_cookie
from veritas.engine.findings import Finding
from veritas.engine.security import (
    check_site,
    content_checks,
    cookie_checks,
    header_checks,
    transport_checks,
)

from .pagefactory import make_page
from .support import audit

GOOD_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "content-security-policy": "default-src 'self'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def types(findings: list[Finding]) -> list[str]:
    return sorted(f.type for f in findings)


def test_all_headers_present() -> None:
    status, findings = header_checks(make_page("<p>x", headers=GOOD_HEADERS))
    assert findings == [] and set(status.values()) == {"present"}


def test_missing_headers() -> None:
    status, findings = header_checks(make_page("<p>x"))
    assert types(findings) == [
        "missing_clickjacking_protection",
        "missing_csp",
        "missing_hsts",
        "missing_nosniff",
        "missing_referrer_policy",
    ]
    assert set(status.values()) == {"missing"}


def test_weak_headers() -> None:
    headers = {
        **GOOD_HEADERS,
        "strict-transport-security": "max-age=60",
        "content-security-policy": "script-src 'unsafe-inline'",
        "referrer-policy": "unsafe-url",
    }
    status, findings = header_checks(make_page("<p>x", headers=headers))
    assert types(findings) == ["weak_csp", "weak_hsts", "weak_referrer_policy"]
    assert status["x-frame-options"] == "present"


def test_frame_ancestors_replaces_xfo() -> None:
    headers = {k: v for k, v in GOOD_HEADERS.items() if k != "x-frame-options"}
    headers["content-security-policy"] = "frame-ancestors 'none'"
    _, findings = header_checks(make_page("<p>x", headers=headers))
    assert "missing_clickjacking_protection" not in types(findings)


def test_http_page_and_password() -> None:
    page = make_page(
        '<form action="/login"><input type="password" name="pw"></form>', "http://shop.test/"
    )
    assert types(transport_checks(page)) == ["no_https"]
    assert [(f.type, f.severity, f.selector) for f in content_checks(page)] == [
        ("form_over_http", "high", "body > form:nth-of-type(1)"),
        ("password_over_http", "critical", "body > form:nth-of-type(1) > input:nth-of-type(1)"),
    ]


def test_mixed_content() -> None:
    page = make_page(
        '<script src="http://cdn.test/a.js"></script><img src="http://cdn.test/a.png">'
        '<img src="https://cdn.test/b.png">'
    )
    findings = content_checks(page)
    assert [(f.type, f.severity, f.text) for f in findings] == [
        ("mixed_content", "high", "http://cdn.test/a.js"),
        ("mixed_content", "low", "http://cdn.test/a.png"),
    ]


def test_forms_cross_origin_and_over_http() -> None:
    page = make_page(
        '<form action="http://shop.test/a"></form><form action="https://evil.test/b">'
        '<input type="password"></form><form action="/ok"></form>'
    )
    assert [(f.type, f.severity) for f in content_checks(page)] == [
        ("form_over_http", "medium"),
        ("cross_origin_form", "medium"),
        ("cross_origin_form", "high"),
    ]


def test_cookie_flags() -> None:
    headers = [
        "sessionid=x; Path=/",
        "theme=dark; Secure; HttpOnly; SameSite=Lax; Max-Age=10",
        "track=1; SameSite=None; HttpOnly",
    ]
    cookies = [c for h in headers if (c := parse_set_cookie(h, "https://shop.test/")) is not None]
    assert cookies[1] == RawCookie("theme", True, True, "lax", "", "", True, "https://shop.test/")
    findings = cookie_checks(make_page("<p>x", cookies=cookies))
    assert [(f.type, f.severity, f.text) for f in findings] == [
        ("cookie_without_secure", "medium", "cookie sessionid"),
        ("cookie_without_httponly", "medium", "cookie sessionid"),
        ("cookie_without_samesite", "low", "cookie sessionid"),
        ("cookie_without_secure", "medium", "cookie track"),
        ("cookie_samesite_none_insecure", "medium", "cookie track"),
    ]


def test_redirects_to_other_domain_and_downgrade() -> None:
    hops = [RedirectHop("https://a.test/", 301, "http://b.test/")]
    page = make_page("<p>x", "http://b.test/", redirects=hops, requested="https://a.test/")
    assert types(transport_checks(page)) == ["cross_domain_redirect", "https_downgrade", "no_https"]


def test_weak_tls() -> None:
    assert types(transport_checks(make_page("<p>x", tls_version="TLSv1"))) == ["weak_tls"]


def test_live_site_headers_and_cookies(site: str) -> None:
    sink = audit(f"{site}/hardened")
    headers = sink.last.summary["security"]["headers"]
    assert headers == {
        "strict-transport-security": "n/a",
        "content-security-policy": "present",
        "x-frame-options": "present",
        "x-content-type-options": "present",
        "referrer-policy": "present",
    }
    cookie_types = [
        f["type"] for f in audit(f"{site}/cookies").findings() if f["type"].startswith("cookie")
    ]
    assert cookie_types == ["cookie_without_httponly", "cookie_without_samesite"]


def test_live_cross_domain_redirect(site: str) -> None:
    sink = audit(f"{site}/to-localhost")
    (finding,) = [f for f in sink.findings() if f["type"] == "cross_domain_redirect"]
    assert finding["evidence"]["snippet"].startswith("http://localhost:")


def test_check_site_summary() -> None:
    summary, _ = check_site([make_page("<form></form>", headers=GOOD_HEADERS)])
    assert (
        summary["https"] is True
        and summary["forms_checked"] == 1
        and summary["tls_version"] == "TLSv1.3"
    )
