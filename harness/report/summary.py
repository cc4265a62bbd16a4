"""``summary.md``: the run in a few lines of Markdown, for a CI job summary.

Rendered from ``templates/summary.md``; every value is escaped as Markdown text by the
environment (``harness.report.templating``), so a case's data cannot break the table or
inject markup.
"""

from __future__ import annotations

from harness.report.latency import latency_medians
from harness.report.repro import repro_command
from harness.report.result import StageReport
from harness.report.templating import markdown_environment

ICON = {"match": "✅", "ignored": "➖", "mismatch": "❌", "inconclusive": "⚠️"}


def render_summary(report: StageReport) -> str:
    prov = report["provenance"]
    failing = [
        (c, repro_command(report["stage"], prov["corpus_dirs"], c.id))
        for c in report["cases"]
        if not c.passed
    ]
    return (
        markdown_environment()
        .get_template("summary.md")
        .render(
            report=report,
            stage=f"{report['stage']:g}",
            gate=report["gate"],
            totals=report["totals"],
            prov=prov,
            icons=ICON,
            latency=latency_medians(report["cases"]),
            failing=failing,
        )
    )
