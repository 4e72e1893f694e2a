"""The dispatch page itself: one HTML document with its CSS and JavaScript inline (no external assets)."""

from __future__ import annotations

PAGE_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dispatch - decision engine</title>
<style>
  :root { --ink: #1d1d1b; --muted: #6b6b66; --line: #deded8; --bg: #f4f4f0; --card: #fff; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: var(--ink); background: var(--bg); }
  header { display: flex; align-items: center; gap: 16px; padding: 8px 16px; background: #23313f; color: #fff; }
  header h1 { font-size: 16px; margin: 0; }
  nav button { font: inherit; padding: 4px 14px; border: 1px solid #5b6b7b; background: transparent; color: #fff;
               border-radius: 4px; cursor: pointer; }
  nav button.active { background: #fff; color: #23313f; }
  #status { margin-left: auto; font-size: 12px; opacity: .85; }
  main { padding: 12px 16px; }
  .fleet { background: var(--card); border: 1px solid var(--line); border-radius: 6px; margin-bottom: 14px;
           padding: 10px 12px; }
  .fleet h2 { font-size: 15px; margin: 0 0 8px; display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
  .meta { font-weight: normal; color: var(--muted); font-size: 12px; }
  .body { display: flex; gap: 14px; flex-wrap: wrap; }
  .map svg { max-width: 100%; height: auto; display: block; }
  .side { flex: 1; min-width: 280px; }
  h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 8px 0 4px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; }
  .swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; margin-right: 6px;
            vertical-align: -1px; }
  .stops { color: var(--muted); }
  .stops b { color: var(--ink); font-weight: 600; }
  .bad { color: #b3261e; }
  .good { color: #1b7a3a; }
  .small { font-size: 11px; color: var(--muted); }
  .empty { color: var(--muted); font-style: italic; }
  ul { margin: 0; padding-left: 18px; }
</style>
</head>
<body data-updates="0">
<header>
  <h1>Dispatch</h1>
  <nav>
    <button id="tab-routes" class="active" data-tab="routes">Routes</button>
    <button id="tab-fraud" data-tab="fraud">Fraud</button>
  </nav>
  <span id="status">connecting...</span>
</header>
<main>
  <section id="routes">
    <p id="no-fleets" class="empty">No plan published yet: waiting for the first cycle.</p>
    <div id="fleets"></div>
  </section>
  <section id="fraud" hidden>
    <h3>Latest fraud alerts</h3>
    <table id="alerts"><thead><tr><th>Transaction</th><th>Customer</th><th>Terminal</th><th>Score</th>
      <th>When (UTC)</th><th>Reasons</th></tr></thead><tbody></tbody></table>
    <p id="no-alerts" class="empty">No alert yet.</p>
    <h3>Granite reviews</h3>
    <table id="reviews"><thead><tr><th>Transaction</th><th>Customer</th><th>Decision</th><th>Score</th>
      <th>Rationale</th><th>Model</th><th>Latency</th></tr></thead><tbody></tbody></table>
    <p id="no-reviews" class="empty">No review yet.</p>
  </section>
</main>
<script>
"use strict";
const fleets = new Map();  // fleet id -> its <article>
let clockOffset = 0;  // server time minus browser time, ms

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function hhmmss(iso) { return iso ? iso.slice(11, 19) : ""; }

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() + clockOffset - Date.parse(iso)) / 1000));
  return s < 120 ? s + " s" : Math.floor(s / 60) + " min " + (s % 60) + " s";
}

function tickAges() {
  for (const node of document.querySelectorAll(".age[data-cycle-at]")) {
    node.textContent = age(node.dataset.cycleAt);
  }
}

function routeRows(plan) {
  const rows = plan.routes.map(r => el("tr", {"data-vehicle": r.vehicle_id},
    el("td", {}, el("span", {class: "swatch", style: "background:" + r.colour}), r.vehicle_id),
    el("td", {class: "stops"}, ...(r.stops.length ? r.stops.flatMap((s, i) => [
      i ? " \\u2192 " : "", el("b", {}, s.n + ". " + s.order_id), " " + s.eta_label]) : ["(idle)"])),
    el("td", {class: "small"}, r.stops.length + " stops, " + (r.travel_s / 60).toFixed(0) + " min")));
  return el("table", {class: "legend"},
    el("thead", {}, el("tr", {}, el("th", {}, "Vehicle"), el("th", {}, "Stops in order, ETA (UTC)"),
                      el("th", {}, "Route"))),
    el("tbody", {}, ...rows));
}

function unassignedList(plan) {
  if (!plan.unassigned.length) return el("p", {class: "empty"}, "Every order is assigned.");
  return el("ul", {class: "unassigned"}, ...plan.unassigned.map(u =>
    el("li", {"data-order": u.order_id}, el("b", {}, u.order_id), ": " + u.reason)));
}

function candidateCell(c) {
  const cls = c.feasible ? "good" : "bad";
  const head = el("div", {}, el("span", {class: cls}, c.source + (c.feasible ? " ok" : " infeasible")),
                  c.cost === null ? "" : " cost " + c.cost.toFixed(0));
  const cell = el("div", {}, head);
  if (c.violation_count) {
    cell.append(el("ul", {class: "small"}, ...c.violations.map(v => el("li", {}, v)),
      ...(c.violation_count > c.violations.length ? [el("li", {}, "... " + c.violation_count + " in all")] : [])));
  }
  return cell;
}

function decisionsTable(decisions) {
  if (!decisions.length) return el("p", {class: "empty"}, "No decision record yet.");
  return el("table", {class: "decisions"},
    el("thead", {}, el("tr", {}, el("th", {}, "Cycle (UTC)"), el("th", {}, "Provenance"),
                      el("th", {}, "Candidates"), el("th", {}, "Stage timings (ms)"))),
    el("tbody", {}, ...decisions.map(d => el("tr", {"data-cycle-at": d.cycle_at},
      el("td", {}, hhmmss(d.cycle_at)),
      el("td", {class: d.published ? "" : "bad"}, d.provenance),
      el("td", {}, ...d.candidates.map(candidateCell)),
      el("td", {class: "small"}, Object.entries(d.stage_ms).map(([k, v]) => k + " " + v).join(", "))))));
}

function renderFleet(view) {
  const plan = view.plan;
  const section = el("article", {class: "fleet", id: "fleet-" + view.fleet_id, "data-fleet": view.fleet_id,
                                 "data-plan-id": plan ? plan.plan_id : "", "data-version": view.version});
  const title = el("h2", {}, view.fleet_id);
  if (plan) {
    title.append(el("span", {class: "meta"}, plan.source + " plan, cost " + plan.cost.toFixed(0) + ", cycle " +
                    hhmmss(plan.cycle_at) + " UTC, age ",
                    el("span", {class: "age", "data-cycle-at": plan.cycle_at}, age(plan.cycle_at))));
  }
  section.append(title);
  if (plan) {
    const map = el("div", {class: "map"});
    map.innerHTML = plan.svg;  // drawn and escaped by the server
    const side = el("div", {class: "side"}, el("h3", {}, "Vehicles"), routeRows(plan),
                    el("h3", {}, "Unassigned"), unassignedList(plan));
    if (plan.missing.length) {
      side.append(el("p", {class: "small"}, "No position known for: " + plan.missing.join(", ")));
    }
    section.append(el("div", {class: "body"}, map, side));
  } else {
    section.append(el("p", {class: "empty"}, "No plan published for this fleet yet."));
  }
  section.append(el("h3", {}, "Latest decisions"), decisionsTable(view.decisions));
  return section;
}

function renderFraud(fraud) {
  const alerts = document.querySelector("#alerts tbody");
  alerts.replaceChildren(...fraud.alerts.map(a => el("tr", {"data-transaction": a.transaction_id},
    el("td", {}, a.transaction_id), el("td", {}, a.customer_id), el("td", {}, a.terminal_id),
    el("td", {class: "bad"}, a.score.toFixed(3)), el("td", {}, a.occurred_at.replace("T", " ").slice(0, 19)),
    el("td", {}, el("ul", {}, ...a.reasons.map(r => el("li", {}, r)))))));
  document.getElementById("no-alerts").hidden = fraud.alerts.length > 0;
  const reviews = document.querySelector("#reviews tbody");
  reviews.replaceChildren(...fraud.reviews.map(r => el("tr", {"data-transaction": r.transaction_id},
    el("td", {}, r.transaction_id), el("td", {}, r.customer_id),
    el("td", {class: r.decision === "fraud" ? "bad" : r.decision === "genuine" ? "good" : ""}, r.decision),
    el("td", {}, r.score.toFixed(3)), el("td", {}, r.rationale), el("td", {class: "small"}, r.model),
    el("td", {class: "small"}, r.latency_ms + " ms"))));
  document.getElementById("no-reviews").hidden = fraud.reviews.length > 0;
}

function apply(data) {
  clockOffset = Date.parse(data.now) - Date.now();
  for (const [id, view] of Object.entries(data.fleets)) {
    const fresh = renderFleet(view);
    const old = fleets.get(id);
    if (old) old.replaceWith(fresh);
    fleets.set(id, fresh);
  }
  for (const id of [...fleets.keys()]) {
    if (!data.shown.includes(id)) { fleets.get(id).remove(); fleets.delete(id); }
  }
  const container = document.getElementById("fleets");
  container.replaceChildren(...data.shown.filter(id => fleets.has(id)).map(id => fleets.get(id)));
  document.getElementById("no-fleets").hidden = fleets.size > 0;
  if (data.fraud) renderFraud(data.fraud);
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
}

for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => {
    for (const other of document.querySelectorAll("nav button")) {
      other.classList.toggle("active", other === button);
      document.getElementById(other.dataset.tab).hidden = other !== button;
    }
  });
}

const source = new EventSource("/dispatch/events");
source.addEventListener("board", event => apply(JSON.parse(event.data)));
source.addEventListener("open", () => { document.getElementById("status").textContent = "live"; });
source.addEventListener("error", () => { document.getElementById("status").textContent = "reconnecting..."; });
setInterval(tickAges, 1000);
</script>
</body>
</html>
"""
