"""``harness gen-corpus --cases N DIR``: a generated corpus of N cases, for scaling benchmarks.

The output has the corpus layout (``DIR/cases/``, ``DIR/sites/``) and is meant to be thrown
away, not committed. It is deterministic: the same N gives the same files, and the first N
cases of a larger corpus are the cases of the smaller one, so two sizes differ only in count.
Every ten consecutive cases have the same mix (eight ``quick_scan``, two ``standard_audit``,
one of each with a form, varied text, links and images), which keeps the per-case cost of
a 50-case and a 200-case corpus comparable.
"""

from __future__ import annotations

import html
import random
from pathlib import Path

from veritas.parent.progress import Progress

SITES = 5
PAGES = 20
WORDS = [
    "audit",
    "harbour",
    "lantern",
    "cobalt",
    "meadow",
    "quartz",
    "ledger",
    "signal",
    "willow",
    "ember",
    "copper",
    "canyon",
    "orchard",
    "tundra",
    "beacon",
    "harvest",
    "prism",
    "saffron",
    "granite",
    "velvet",
    "thistle",
    "juniper",
]


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (40, 90, 160)).save(buf, format="PNG")
    return buf.getvalue()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _page(site: int, page: int) -> str:
    rng = random.Random(site * 1000 + page)
    links = "".join(
        f'<li><a href="/page-{(page + k) % PAGES}.html">{html.escape(_text(rng, 3))}</a></li>'
        for k in range(1, 6)
    )
    paragraphs = "".join(f"<p>{html.escape(_text(rng, 40))}</p>" for _ in range(2 + page % 4))
    form = (
        '<form action="/subscribe" method="post"><label>Email <input type="email" '
        'name="email"></label><button>Subscribe</button></form>'
        if page % 5 == 0
        else ""
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Generated site {site}, page {page}</title></head><body>"
        f"<h1>{html.escape(_text(rng, 4))}</h1><nav><ul>{links}</ul></nav>"
        f'{paragraphs}<img src="/dot.png" alt="dot">{form}</body></html>\n'
    )


def generate(out: Path, cases: int, progress: Progress | None = None) -> Path:
    """Write a corpus of *cases* cases under *out* (which must not exist yet); return it.
    *progress* counts the sites, then the cases, as they are written."""
    if cases < 1:
        raise ValueError(f"--cases {cases}: must be >= 1")
    if out.exists():
        raise FileExistsError(f"{out}: already exists; give a new directory")
    progress = progress or Progress("harness gen-corpus", enabled=False)
    progress.total = SITES + cases
    (out / "cases").mkdir(parents=True)
    png = _png()
    for site in range(SITES):
        site_dir = out / "sites" / f"gen-site-{site}"
        site_dir.mkdir(parents=True)
        (site_dir / "dot.png").write_bytes(png)
        for page in range(PAGES):
            (site_dir / f"page-{page}.html").write_text(_page(site, page), encoding="utf-8")
        (site_dir / "index.html").write_text(_page(site, 0), encoding="utf-8")
        progress.advance(line=f"site gen-site-{site}: {PAGES + 1} pages")
    for i in range(cases):
        tier = "standard_audit" if i % 10 in (4, 9) else "quick_scan"
        (out / "cases" / f"gen_{i:04d}.yaml").write_text(
            f"id: gen_{i:04d}\n"
            f"description: Generated case {i} for scaling benchmarks.\n"
            f"site: gen-site-{i % SITES}\n"
            f"path: /page-{(i // SITES) % PAGES}.html\n"
            f"tier: {tier}\n"
            "tags: [generated]\n",
            encoding="utf-8",
        )
        progress.advance()
    return out
