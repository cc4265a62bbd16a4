// The live audit page: start an audit, read its WebSocket frames, show them as they arrive.
// Everything that comes from an audited page (titles, texts, URLs) is put in with
// textContent, never parsed as HTML; the Content-Security-Policy runs only this file.
"use strict";

// Where each of the bundled engine's phases sits in the overall pct (another engine's
// phases are laid out from the pct at which they start).
const KNOWN_PHASES = {
  scout: [2, 35], security: [35, 45], vision: [45, 80], graph: [80, 90], judge: [90, 100],
};
const LOG_LIMIT = 2000; // events kept in the log list; older ones are dropped from view
const $ = (id) => document.getElementById(id);

let socket = null;
let phases = new Map();
let counts = { events: 0, findings: 0, shots: 0 };

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function setState(state, detail) {
  const box = $("state");
  box.className = "state " + state;
  box.textContent = detail ? state + ": " + detail : state;
}

function reset() {
  phases = new Map();
  counts = { events: 0, findings: 0, shots: 0 };
  for (const id of ["phases", "findings", "shots", "log", "ipc", "pages"]) $(id).replaceChildren();
  for (const id of ["event-count", "finding-count", "shot-count"]) $(id).textContent = "0";
  $("verdict").hidden = true;
  $("message").textContent = "";
}

function phaseRow(name, pct) {
  let row = phases.get(name);
  if (row) return row;
  const li = el("li", "pending");
  const head = el("div", "phase-head");
  head.append(el("span", "phase-name", name), el("span", "phase-state", "waiting"));
  const bar = el("div", "bar");
  const fill = el("div");
  bar.append(fill);
  li.append(head, bar);
  $("phases").append(li);
  const range = KNOWN_PHASES[name] || [pct, 100];
  row = { li, fill, stateText: head.lastChild, range };
  phases.set(name, row);
  return row;
}

function showPhase(event) {
  if (event.phase === "init" || event.phase === "complete") return;
  const row = phaseRow(event.phase, event.pct);
  const [from, to] = row.range;
  let share = to > from ? (event.pct - from) / (to - from) : 0;
  share = Math.max(0, Math.min(1, share));
  if (event.type === "phase_complete") {
    row.li.className = "done"; row.stateText.textContent = "done"; share = 1;
  } else if (event.type === "phase_error") {
    row.li.className = "failed"; row.stateText.textContent = "failed: " + event.step;
  } else if (row.li.className === "pending") {
    row.li.className = "running"; row.stateText.textContent = "running";
  }
  row.fill.style.width = (share * 100).toFixed(1) + "%";
}

function logEvent(event) {
  const text = "#" + event.seq + " " + event.type + " [" + event.phase + "] " + event.pct + "% " +
    (event.step ? event.step + " — " : "") + event.detail;
  const li = el("li", event.type.endsWith("error") ? "error" : "", text);
  const log = $("log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(li);
  while (log.childElementCount > LOG_LIMIT) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
  $("event-count").textContent = String(++counts.events);
}

function showFinding(summary) {
  const li = el("li", String(summary.severity || ""));
  li.append(el("span", "sev", summary.severity || "?"), el("span", "", summary.title || summary.type || "finding"));
  if (summary.detail) li.append(el("span", "where", summary.detail));
  const where = summary.evidence && summary.evidence.page_url;
  if (where) li.append(el("span", "where", where));
  $("findings").append(li);
  $("finding-count").textContent = String(++counts.findings);
}

function showScreenshot(event) {
  if (typeof event.data !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(event.data)) return;
  const fig = el("figure");
  const img = el("img");
  img.alt = "screenshot " + event.step;
  img.src = "data:image/png;base64," + event.data;
  fig.append(img, el("figcaption", "", event.detail));
  $("shots").append(fig);
  $("shot-count").textContent = String(++counts.shots);
}

function showVerdict(state) {
  const verdict = state && state.verdict;
  if (!verdict) return;
  $("score").textContent = String(verdict.trust_score);
  const risk = $("risk");
  risk.className = "risk " + String(verdict.risk_level).replace(/[^a-z_]/g, "");
  risk.textContent = String(verdict.risk_level).replace(/_/g, " ");
  $("verdict").hidden = false;
  const pages = $("pages");
  for (const page of Array.isArray(state.pages) ? state.pages : []) {
    const li = el("li", "", page.title || "(no title)");
    li.append(el("span", "where", page.final_url || page.url || ""));
    pages.append(li);
  }
}

function showIpc(frame) {
  const dl = $("ipc");
  dl.replaceChildren();
  const rows = [
    ["mode", frame.mode_requested + " → " + frame.mode_used],
    ["events", "queue " + frame.events_by_transport.queue + ", stdout " + frame.events_by_transport.stdout],
  ];
  if (frame.fallback) rows.push(["fallback", frame.fallback_reason || "yes"]);
  for (const [k, v] of rows) dl.append(el("dt", "", k), el("dd", "", v));
}

function onFrame(frame) {
  if (frame.type === "ipc_outcome") {
    showIpc(frame);
    return;
  }
  if (frame.type === "server_error") {
    setState("error", frame.detail);
    return;
  }
  logEvent(frame);
  showPhase(frame);
  if (frame.type === "finding") showFinding(frame.summary || {});
  else if (frame.type === "screenshot") showScreenshot(frame);
  else if (frame.type === "audit_complete") { showVerdict(frame.summary); setState("completed"); }
  else if (frame.type === "audit_error") setState("error", frame.detail);
  else setState("running", frame.pct + "%");
}

function finished(ok) {
  $("go").disabled = false;
  $("stop").disabled = true;
  socket = null;
  if (!ok) return;
}

async function start(evt) {
  evt.preventDefault();
  reset();
  $("go").disabled = true;
  setState("queued");
  let answer;
  try {
    const response = await fetch("/api/audit/start", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ url: $("url").value.trim(), tier: $("tier").value }),
    });
    answer = await response.json();
    if (!response.ok) throw new Error(answer.detail || response.statusText);
  } catch (err) {
    $("message").textContent = String(err.message || err);
    setState("idle");
    $("go").disabled = false;
    return;
  }
  const ws = new WebSocket(answer.ws_url);
  socket = ws;
  $("stop").disabled = false;
  let ended = false;
  ws.onmessage = (msg) => {
    const frame = JSON.parse(msg.data);
    if (frame.type === "audit_complete" || frame.type === "audit_error") ended = true;
    onFrame(frame);
  };
  ws.onclose = (close) => {
    if (close.code === 1000 && ended) { finished(true); return; }
    if (close.code === 1000 && !ended) setState("error", "the audit ended without a result");
    else if (close.code === 4000 || socket !== ws) setState("cancelled");
    else setState("error", close.reason || "connection closed (" + close.code + ")");
    finished(false);
  };
}

function stop() {
  if (!socket) return;
  const ws = socket;
  socket = null;
  ws.close(4000, "stopped by the user");
  setState("cancelled", "stopped by the user");
  finished(false);
}

document.addEventListener("DOMContentLoaded", () => {
  $("start").addEventListener("submit", start);
  $("stop").addEventListener("click", stop);
});
