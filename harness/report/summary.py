"""``summary.md``: a short Markdown table for a CI job summary."""

from __future__ import annotations

from harness.report.result import StageReport
from veritas.parent.console import visible

ICON = {"match": "✅", "ignored": "➖", "mismatch": "❌", "inconclusive": "⚠️"}


def _cell(text: str) -> str:
    return visible(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def render_summary(report: StageReport) -> str:
    t, gate = report["totals"], report["gate"]
    lines = [
        f"## Veritas IPC stage {report['stage']:g} — gate {'passed ✅' if gate['passed'] else 'FAILED ❌'}",
        "",
        f"Run `{report['run_id']}` · commit `{(report['provenance']['code']['commit'] or '?')[:12]}` · "
        f"{t['cases']} cases: {t['match']} match, {t['ignored']} ignored, {t['mismatch']} mismatch, "
        f"{t['inconclusive']} inconclusive · wall {report['timing']['wall_s']:.1f} s",
        "",
    ]
    if not report["scope"]["gating"]:
        lines += ["**Not a gating run**: this report cannot advance a stage.", ""]
    lines += [f"- {_cell(r)}" for r in gate["reasons"]]
    lines += [
        "",
        "| case | verdict | events | stdout s | queue s | note |",
        "|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        note = "; ".join(c.reasons)[:160]
        lines.append(
            f"| {_cell(c.id)} | {ICON[c.verdict]} {c.verdict} | {c.runs.queue.events} "
            f"| {c.timing.audit_s.stdout:.2f} | {c.timing.audit_s.queue:.2f} | {_cell(note)} |"
        )
    return "\n".join(lines) + "\n"
