// The detail page's audit trail: who did what, why and when, the saga's status and version
// before and after, the outcome, the trace of the action's own span, and for an input
// edit the diff that was stored with it. Redrawn from the server's rows, newest first.

import { countChanges, diffTable } from "./diff.js";
import { fill, h, timeEl } from "./dom.js";

function trace(entry) {
  if (!entry.trace_id) return "—";
  const id = h("code", {}, entry.trace_id);
  if (!entry.trace_url) return id;
  return h("a", { href: entry.trace_url, rel: "noopener noreferrer", target: "_blank", title: "This action's span in Jaeger" }, id);
}

function rows(entry) {
  const main = h(
    "tr",
    { dataset: { audit: String(entry.id), action: entry.action } },
    h("td", {}, timeEl(entry.created_at)),
    h("td", {}, entry.actor),
    h("td", {}, entry.label),
    h("td", { dataset: { label: "step" } }, entry.step),
    h("td", { class: "audit-reason wide" }, entry.reason || h("span", { class: "muted" }, "—")),
    h("td", {}, `${entry.status_before} → ${entry.status_after}`),
    h("td", { class: "minor" }, `${entry.version_before} → ${entry.version_after}`),
    h("td", { class: "minor" }, entry.outcome),
    h("td", { class: "audit-trace minor" }, trace(entry)),
  );
  if (!entry.input_diff) return [main];
  const diff = h(
    "tr",
    { class: "audit-diff", dataset: { auditDiff: String(entry.id) } },
    h("td", { colspan: "9", class: "wide" }, diffTable(entry.input_diff, `Input edited: ${countChanges(entry.input_diff)}`)),
  );
  return [main, diff];
}

export function renderAudit(entries) {
  document.getElementById("audit-empty").hidden = entries.length > 0;
  document.getElementById("audit-box").hidden = entries.length === 0;
  fill(document.getElementById("audit-rows"), entries.map(rows));
}
