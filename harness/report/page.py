"""``index.html``: the review page of a stage run — one self-contained file, no network.

Every string that can come from an audited site (case data, event fields, diff values,
screenshot labels) goes through ``visible`` (surrogates and control characters escaped) and
``html.escape``; images are embedded as data URIs. The page states only what the data shows:
"equal" only where the digests are equal.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

from harness.report.repro import repro_command
from harness.report.result import Artifacts, CaseResult, StageReport, TransportRun
from veritas.parent.console import visible

_CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mute:#57606a;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;
margin:0;color:#1f2328;background:#fff}header{padding:20px 28px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:24px 0 8px}main{padding:8px 28px 40px;max-width:1400px}
.badge{display:inline-block;padding:2px 9px;border-radius:12px;font-weight:600;font-size:12px;color:#fff}
.match{background:var(--ok)}.ignored{background:#6e7781}.mismatch{background:var(--bad)}.inconclusive{background:var(--warn)}
.gate{font-size:18px;font-weight:700;margin:8px 0}.gate.pass{color:var(--ok)}.gate.fail{color:var(--bad)}
.meta{color:var(--mute);font-size:12px}.reasons li{margin:2px 0}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}.card{border:1px solid var(--line);border-radius:8px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top}
th{background:var(--bg);font-size:12px;color:var(--mute)}tr.hidden{display:none}td.num{text-align:right;font-variant-numeric:tabular-nums}
.filters{display:flex;gap:10px;align-items:center;margin:10px 0;flex-wrap:wrap}select,input{font:inherit;padding:3px 6px}
details.case{border:1px solid var(--line);border-radius:8px;margin:10px 0;padding:0 12px}details.case>summary{cursor:pointer;padding:10px 0;font-weight:600}
.shots{display:flex;gap:12px;flex-wrap:wrap}.shots figure{margin:0;max-width:32%}.shots img{max-width:100%;border:1px solid var(--line)}
figcaption{font-size:12px;color:var(--mute)}pre{background:var(--bg);padding:8px;overflow:auto;max-height:320px;font-size:12px}
.diff td{font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}.left{background:#ffebe9}.right{background:#dafbe1}
code{font-family:ui-monospace,monospace;font-size:12px}
"""

_JS = """
function applyFilter(){const v=document.getElementById('fv').value,t=document.getElementById('ft').value,q=document.getElementById('fq').value.toLowerCase();
document.querySelectorAll('tr[data-verdict]').forEach(r=>{const ok=(!v||r.dataset.verdict===v)&&(!t||r.dataset.tags.split(' ').includes(t))&&(!q||r.dataset.id.includes(q));r.classList.toggle('hidden',!ok)});}
document.querySelectorAll('.filters select,.filters input').forEach(e=>e.addEventListener('input',applyFilter));
"""


def _runs_text(runs: list[TransportRun]) -> str:
    """[["queue", 0, 50], ["stdout", 50, 69]] -> "queue 0–49 · stdout 50–118"."""
    return " · ".join(f"{t} {first}–{first + n - 1}" for t, first, n in runs)


def _e(value: Any) -> str:
    return escape(visible(str(value)), quote=True)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
    return _e(text if len(text) < 600 else text[:600] + "…")


def _shots_statement(case: CaseResult) -> str:
    """What the screenshot digests show, in words that claim no more than that."""
    left, right = case.screenshots.stdout, case.screenshots.queue
    if not left and not right:
        return ""
    differ = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
    if not differ:
        return f"{len(left)} screenshots; pixel digests equal in both modes."
    rules = ", ".join(case.ignored_by)
    masked = f" (masked by the ignore rules: {rules})" if case.verdict == "ignored" else ""
    return (
        f"{len(set(left) | set(right))} screenshots; pixel digests differ for "
        f"{len(differ)}: {', '.join(differ[:10])}{masked}."
    )


def _ignore_detail(case: CaseResult) -> str:
    rules = case.ignore_rules
    if not rules:
        return ""
    rows = "".join(
        f"<tr><td><code>{_e(r.name)}</code></td><td>{_e(r.reason)}</td>"
        f"<td class=num>{r.masked['stdout']}</td><td class=num>{r.masked['queue']}</td></tr>"
        for r in rules
    )
    parts = [
        "<h3>Ignore rules</h3><table><tr><th>rule</th><th>reason</th>"
        f"<th>values masked, stdout</th><th>values masked, queue</th></tr>{rows}</table>"
    ]
    diffs = case.masked_differences
    if diffs:
        parts.append(
            "<h3>What the rules masked (first differences, unmasked)</h3>"
            '<table class="diff"><tr><th>path</th><th>change</th><th>stdout</th><th>queue</th></tr>'
            + "".join(
                f"<tr><td>{_e(p['path'])}</td><td>{_e(p['change'])}</td>"
                f"<td class=left>{_value(p.get('left'))}</td><td class=right>{_value(p.get('right'))}</td></tr>"
                for p in diffs
            )
            + "</table>"
        )
    return "".join(parts)


def _case_detail(case: CaseResult, run_dir: Path, repro: str) -> str:
    cid = _e(case.id)
    parts = [
        f'<details class="case" id="case-{cid}"{" open" if case.verdict in ("mismatch", "inconclusive") else ""}>',
        f'<summary><span class="badge {_e(case.verdict)}">{_e(case.verdict)}</span> {cid}'
        f' <span class="meta">{_e(case.tier)} · {_e(", ".join(case.tags))}</span></summary>',
        f'<p class="meta">URL <code>{_e(case.url)}</code></p>',
    ]
    if case.reasons:
        parts.append(
            "<ul class=reasons>" + "".join(f"<li>{_e(r)}</li>" for r in case.reasons) + "</ul>"
        )
    rows = []
    for mode, r in (("stdout", case.runs.stdout), ("queue", case.runs.queue)):
        rows.append(
            f"<tr><td>{mode}</td><td>{_e(r.state)}</td><td>{_e(r.attested_transport)}</td>"
            f"<td class=num>{r.events_by_transport['queue']}</td><td class=num>{r.events_by_transport['stdout']}</td>"
            f"<td class=num>{r.duration_s:.2f}</td><td class=num>{r.latency.p99_ms:.1f}</td>"
            f"<td>{_e(_runs_text(r.transport_runs))}</td>"
            f"<td>{_e(r.fallback_reason or '')}</td></tr>"
        )
    parts.append(
        "<table><tr><th>run</th><th>state</th><th>attested</th><th>via queue</th><th>via stdout</th>"
        "<th>seconds</th><th>latency p99 ms</th><th>seq by transport</th><th>fallback</th></tr>"
        + "".join(rows)
        + "</table>"
    )
    diff = case.first_difference
    if diff:
        parts.append(
            f"<h3>First difference: event #{diff.index} ({_e(diff.type)}, phase {_e(diff.phase)})</h3>"
        )
        parts.append(
            '<table class="diff"><tr><th>path</th><th>change</th><th>stdout</th><th>queue</th></tr>'
            + "".join(
                f"<tr><td>{_e(p['path'])}</td><td>{_e(p['change'])}</td>"
                f"<td class=left>{_value(p.get('left'))}</td><td class=right>{_value(p.get('right'))}</td></tr>"
                for p in diff.paths[:40]
            )
            + "</table>"
        )
    artifacts = case.artifacts or Artifacts()
    adir = run_dir / "cases" / artifacts.dir
    sides = dict(zip(("left", "right"), artifacts.sides, strict=False))
    for shot in artifacts.screenshots:
        figs = []
        for key, name in (("left", shot.left), ("right", shot.right), ("diff", shot.diff)):
            if name and (adir / name).is_file():
                caption = _e(sides.get(key, "changed pixels in red"))
                figs.append(
                    f'<figure><img alt="{caption}" src="{_img(adir / name)}">'
                    f"<figcaption>{caption}</figcaption></figure>"
                )
        parts.append(
            f"<h3>Screenshot {_e(shot.label)}</h3><p class=meta>{_e(shot.note or '')}</p>"
            f'<div class="shots">{"".join(figs)}</div>'
        )
    for key, name in (("left", artifacts.left_events), ("right", artifacts.right_events)):
        if name and (adir / name).is_file():
            parts.append(
                f"<h3>{_e(sides.get(key, key))} events around the divergence</h3>"
                f"<pre>{_e((adir / name).read_text()[:20000])}</pre>"
            )
    parts.append(_ignore_detail(case))
    statement = _shots_statement(case)
    if statement:
        parts.append(f"<p class=meta>{_e(statement)}</p>")
    if not case.passed:
        parts.append(f"<p class=meta>Reproduce: <code>{_e(repro)}</code></p>")
    parts.append("</details>")
    return "".join(parts)


def _shards(report: StageReport) -> str:
    shards = report.get("shards") or []
    if not shards:
        return ""
    rows = "".join(
        f"<tr><td>{s['shard'][0]}/{s['shard'][1]}</td><td>{_e(s['run_id'])}</td>"
        f"<td class=num>{s['wall_s']:.1f}</td><td><code>{_e(' '.join(s['argv']))}</code></td></tr>"
        for s in shards
    )
    return (
        "<h2>Merged from shards</h2><table><tr><th>shard</th><th>run</th><th>wall s</th>"
        f"<th>command</th></tr>{rows}</table>"
    )


def _rollout(rollout: dict[str, Any] | None) -> str:
    """The rollout at review time (``harness review``): the ledger and the current cohorts."""
    if rollout is None:
        return ""
    rows = "".join(
        f"<tr><td>{i}</td><td>{_e(e.get('at'))}</td><td>{_e(e.get('kind'))}</td>"
        f"<td>{_e(e.get('previous_stage'))} → {_e(e.get('stage'))}</td><td>{_e(e.get('by'))}</td>"
        f"<td>{_e(e.get('reason'))}</td><td>{_e(e.get('validated_run') or '')}</td>"
        f"<td>{_e(((e.get('cohorts') or {}).get('verdict')) or '')}</td>"
        f"<td><code>{_e(str(e.get('sha256'))[7:19])}</code></td></tr>"
        for i, e in enumerate(rollout.get("ledger") or [], 1)
    )
    ledger = (
        "<table><tr><th>#</th><th>at</th><th>decision</th><th>stage</th><th>by</th><th>reason</th>"
        f"<th>validating run</th><th>cohorts</th><th>sha256</th></tr>{rows}</table>"
        if rows
        else "<p>No entry yet: the rollout has not started.</p>"
    )
    c = rollout.get("cohorts")
    if not c:
        cohorts = "<p>Production cohorts: not read (no stage entered, or no metrics).</p>"
    else:
        mode_rows = "".join(
            f"<tr><td>{_e(m)}</td><td class=num>{f['audits']}</td><td class=num>{f['failures']}</td>"
            f"<td class=num>{_e(f['failure_rate'])}</td><td class=num>{_e(f['fallback_rate'])}</td>"
            f"<td>{_e(', '.join(f'{r}: {n}' for r, n in f['fallbacks'].items()))}</td>"
            f"<td class=num>{_e(f['latency_p50_ms'])}</td><td class=num>{_e(f['latency_p99_ms'])}</td>"
            f"<td class=num>{_e(f['duration_p50_s'])}</td><td class=num>{_e(f['duration_p99_s'])}</td></tr>"
            for m, f in c["cohorts"].items()
        )
        verdicts = "".join(
            f"<li><b>{_e(m['verdict'])}</b> {_e(m['metric'])}: {_e(m['detail'])}</li>"
            for m in c["metrics"]
        )
        cohorts = (
            f"<h3>Production cohorts of stage {_e(c['stage'])} since {_e(c['since'])}: "
            f"{_e(c['verdict'])}</h3><p class=meta>{_e(c['source'])}</p>"
            "<table><tr><th>mode</th><th>audits</th><th>failed</th><th>failure rate</th>"
            "<th>fallback rate</th><th>fallbacks</th><th>latency p50 ms</th><th>p99 ms</th>"
            f"<th>duration p50 s</th><th>p99 s</th></tr>{mode_rows}</table><ul>{verdicts}</ul>"
        )
    return f'<h2 id="rollout">Rollout</h2>{cohorts}<h3>Ledger</h3>{ledger}'


def render_html(report: StageReport, run_dir: Path, rollout: dict[str, Any] | None = None) -> str:
    """The review page; *rollout* (``{"ledger": [...], "cohorts": {...} | None}``) adds the
    rollout's ledger and cohorts, as ``harness review`` does when it refreshes the page."""
    t, gate, prov = report["totals"], report["gate"], report["provenance"]
    tags = sorted({tag for c in report["cases"] for tag in c.tags})
    cards = "".join(
        f'<div class="card"><span class="badge {v}">{v}</span><b>{t[v]}</b></div>'
        for v in ("match", "ignored", "mismatch", "inconclusive")
    )
    rows = "".join(
        f'<tr data-verdict="{_e(c.verdict)}" data-tags="{_e(" ".join(c.tags))}" data-id="{_e(c.id.lower())}">'
        f'<td><a href="#case-{_e(c.id)}">{_e(c.id)}</a></td><td><span class="badge {_e(c.verdict)}">{_e(c.verdict)}</span></td>'
        f"<td>{_e(c.tier)}</td><td>{_e(', '.join(c.tags))}</td><td class=num>{c.runs.queue.events}</td>"
        f"<td class=num>{c.timing.audit_s.stdout:.2f}</td><td class=num>{c.timing.audit_s.queue:.2f}</td>"
        f"<td>{_e('; '.join(c.reasons)[:200])}</td></tr>"
        for c in report["cases"]
    )
    norm = "".join(
        f"<li><code>{_e(r['name'])}</code> — {_e(r['description'])} ({r['applied']} values)</li>"
        for r in report["normalization"]
    )
    code = prov["code"]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Veritas IPC · stage {report["stage"]:g} · {_e(report["run_id"])}</title><style>{_CSS}</style></head><body>
<header><h1>Veritas IPC — stage {report["stage"]:g} validation</h1>
<div class="gate {"pass" if gate["passed"] else "fail"}">Gate {"PASSED" if gate["passed"] else "FAILED"}</div>
{"" if report["scope"]["gating"] else '<div class="gate fail">Not a gating run: this report cannot advance a stage</div>'}
<ul class="reasons">{"".join(f"<li>{_e(r)}</li>" for r in gate["reasons"])}</ul>
<div class="meta">run {_e(report["run_id"])} · commit {_e((code["commit"] or "?")[:12])}{" (dirty)" if code["dirty"] else ""} ·
corpus {_e((prov["corpus_digest"] or "?")[:12])} · Python {_e(prov["python"])} · {_e(prov["platform"])} · workers {prov["workers"]} ·
wall {report["timing"]["wall_s"]:.1f} s</div></header>
<main><div class="cards">{cards}<div class="card">Queue attested<b>{t["queue_attested"]}/{t["cases"]}</b></div>
<div class="card">audits stdout / queue<b>{t["audits_per_mode"]["stdout"]} / {t["audits_per_mode"]["queue"]}</b></div></div>
<h2>Cases</h2><div class="filters"><label>verdict <select id="fv"><option value="">all</option>
{"".join(f"<option>{v}</option>" for v in ("match", "ignored", "mismatch", "inconclusive"))}</select></label>
<label>tag <select id="ft"><option value="">all</option>{"".join(f"<option>{_e(x)}</option>" for x in tags)}</select></label>
<label>id <input id="fq" placeholder="filter by id"></label></div>
<table><tr><th>case</th><th>verdict</th><th>tier</th><th>tags</th><th>events</th><th>stdout s</th><th>queue s</th><th>reasons</th></tr>{rows}</table>
<h2>Details</h2>{"".join(_case_detail(c, run_dir, repro_command(report["stage"], prov["corpus_dirs"], c.id)) for c in report["cases"])}{_shards(report)}
<h2>Normalization rules applied</h2><ul>{norm}</ul>
<p class="meta">Policy: {_e(json.dumps(report["policy"]))}</p>{_rollout(rollout)}
</main><script>{_JS}</script></body></html>
"""
