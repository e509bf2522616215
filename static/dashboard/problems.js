// The Problems page: failure groups, most open first, redrawn when the server pushes new
// figures; each group links to its sagas (where the bulk bar repairs them all) and, for
// those allowed, has its triage buttons.

import { badge, dateTime, duration, fill, h, readData, serverNow, syncClock } from "./dom.js";
import { postForm } from "./http.js";
import { LiveSocket } from "./live.js";

const canTriage = readData("problems-can-triage");
const me = readData("problems-me");
let data = readData("problems-data");

function ago(iso) {
  return `${duration(serverNow() - Date.parse(iso))} ago`;
}

function sparkline(hourly) {
  const peak = Math.max(1, ...hourly);
  return h(
    "span",
    { class: "sparkline", role: "img", "aria-label": `${hourly.reduce((a, b) => a + b, 0)} failures in the last 24 hours` },
    hourly.map((n) => h("span", { class: n ? "spark on" : "spark", style: { height: `${Math.max(8, (100 * n) / peak)}%` }, title: String(n) })),
  );
}

function sagasUrl(p, status = "failed", q = "") {
  const query = new URLSearchParams({ problem: String(p.id) });
  if (status) query.set("status", status);
  if (q) query.set("q", q);
  return `/sagas/?${query}`;
}

// The page's query (the search language), when it narrows the groups to those holding
// sagas it matches: each row then links to exactly those sagas.
const pageQuery = new URLSearchParams(data.params).get("q") || "";

function show(message, ok = true) {
  const el = document.getElementById("triage-result");
  el.textContent = message;
  el.className = ok ? "muted" : "refusal";
}

async function triage(p, action, fields = {}) {
  const form = new FormData(document.getElementById("triage-csrf"));
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  const answer = await postForm(`/problems/${p.id}/${action}/`, form);
  if (!answer.ok) {
    show(`Refused (${answer.status || "no answer"}): ${answer.detail}`, false);
    return;
  }
  show(`Problem #${p.id}: ${action} applied; it is ${answer.body.problem.status}.`);
  data.problems = data.problems.map((q) => (q.id === p.id ? answer.body.problem : q));
  render();
}

function ask(p, action, field, label, current) {
  const value = window.prompt(label, current ?? "");
  if (value !== null) triage(p, action, { [field]: value });
}

function triageButtons(p) {
  const button = (label, onclick, name) => h("button", { type: "button", class: "small", "data-triage": name, onclick }, label);
  const buttons = [];
  if (p.status !== "resolved") buttons.push(button("Resolve", () => triage(p, "resolve"), "resolve"));
  if (p.status !== "open") buttons.push(button("Reopen", () => triage(p, "reopen"), "reopen"));
  if (p.status !== "ignored") buttons.push(button("Ignore", () => triage(p, "ignore"), "ignore"));
  buttons.push(button("Snooze 1 h", () => triage(p, "snooze", { snooze: "1h" }), "snooze"));
  buttons.push(button(p.owner === me ? "Unassign" : "Assign to me", () => triage(p, "assign", { owner: p.owner === me ? "" : me }), "assign"));
  buttons.push(button("Note…", () => ask(p, "note", "note", "Note for this problem (what is known, what was done):", p.note), "note"));
  buttons.push(button("Ticket…", () => ask(p, "ticket", "ticket_url", "Ticket address (http or https), or empty:", p.ticket_url), "ticket"));
  return h("td", { class: "triage" }, buttons);
}

function row(p) {
  return h(
    "tr",
    { id: `problem-${p.id}`, dataset: { problem: String(p.id) } },
    h(
      "td",
      { class: "problem" },
      h("strong", {}, `${p.type}.${p.step || "?"}`),
      ` · ${p.phase || "—"} · `,
      h("code", {}, p.error_type),
      h("div", { class: "reason", title: p.sample }, p.message),
    ),
    h("td", { class: "open-count" }, String(p.open_count)),
    h("td", {}, String(p.total_count)),
    h("td", {}, sparkline(p.hourly)),
    h("td", { title: `first ${dateTime(p.first_seen)}, last ${dateTime(p.last_seen)}` }, `last ${ago(p.last_seen)}`, h("br"), h("span", { class: "muted" }, `first ${ago(p.first_seen)}`)),
    h(
      "td",
      {},
      badge(p.status),
      p.regressed_at ? h("span", { class: "badge failed regressed", title: `reopened ${dateTime(p.regressed_at)}` }, "regressed") : null,
      p.status === "snoozed" && p.snoozed_until ? h("div", { class: "muted" }, `until ${dateTime(p.snoozed_until)}`) : null,
      p.status === "snoozed" && p.snooze_failures ? h("div", { class: "muted" }, `for ${p.snooze_failures} more failures`) : null,
    ),
    h(
      "td",
      {},
      p.owner ? h("div", {}, `owner: ${p.owner}`) : null,
      p.note ? h("div", { class: "note" }, p.note) : null,
      p.ticket_url ? h("a", { href: p.ticket_url, rel: "noopener noreferrer", target: "_blank" }, "ticket") : null,
    ),
    h(
      "td",
      {},
      h("a", { href: sagasUrl(p), class: "open-sagas" }, p.open_count ? `the ${p.open_count} failed` : "none failed now"),
      h("br"),
      h("a", { href: sagasUrl(p, "") , class: "muted" }, "all it ever held"),
      p.matching !== undefined ? h("br") : null,
      p.matching !== undefined ? h("a", { href: sagasUrl(p, "", pageQuery), class: "matching-sagas" }, `the ${p.matching} matching the query`) : null,
    ),
    canTriage ? triageButtons(p) : null,
  );
}

function render() {
  syncClock(data.generated_at);
  const columns = canTriage ? 9 : 8;
  fill(
    document.getElementById("problems"),
    data.problems.length
      ? data.problems.map(row)
      : h("tr", { class: "empty" }, h("td", { colspan: String(columns), class: "muted" }, "No problems: no saga is waiting for an operator for a cause these filters match.")),
  );
}

render();
new LiveSocket("/ws/problems/", {
  params: data.params,
  onFrame(frame) {
    if (frame.type === "problems") {
      data = { ...frame, params: data.params };
      render();
    }
  },
});
