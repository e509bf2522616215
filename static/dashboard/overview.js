// The overview, drawn from the server's figures and redrawn when new ones are pushed.

import { badge, dateTime, duration, fill, h, readData, sagaUrl, text } from "./dom.js";
import { LiveSocket } from "./live.js";
import { zoneName } from "./times.js";

const STATUSES = ["running", "compensating", "completed", "compensated", "failed"];

function counts(data) {
  fill(
    document.getElementById("counts"),
    STATUSES.map((status) =>
      h(
        "div",
        { class: `count-card ${status}` },
        h("dt", {}, h("a", { href: `/sagas/?status=${status}` }, status)),
        h("dd", {}, String(data.counts[status] ?? 0)),
      ),
    ),
    h("div", { class: "count-card total" }, h("dt", {}, "all"), h("dd", {}, String(data.total))),
  );
}

const BARS = ["started", "completed", "refused", "errors", "failed"];
const AXIS_EVERY = 10; // minutes between the axis's labels

function share(n, of) {
  return of ? ` (${((100 * n) / of).toFixed(1)} %)` : "";
}

// How the last hour's sagas ended: refusals, failures and what needs an operator, apart.
function outcomes(data) {
  const hour = data.last_hour;
  const ended = hour.completed + hour.refused + hour.errors + hour.cancelled + hour.failed;
  const card = (kind, label, n, extra, href) =>
    h("div", { class: `count-card ${kind}`, dataset: { outcome: kind } }, h("dt", {}, href ? h("a", { href }, label) : label), h("dd", {}, String(n), extra ? h("small", {}, extra) : null));
  const needs = (data.counts.failed ?? 0) + data.stuck.length;
  fill(
    document.getElementById("outcomes"),
    card("completed", "completed", hour.completed, share(hour.completed, ended)),
    card("refused", "refused (business)", hour.refused, share(hour.refused, ended)),
    card("errors", "failed (errors, timeouts)", hour.errors + hour.failed, share(hour.errors + hour.failed, ended)),
    card("cancelled", "cancelled by an operator", hour.cancelled, ""),
    card("operator", "needs an operator now", needs, ` ${data.counts.failed ?? 0} failed, ${data.stuck.length} no progress`, "/sagas/?status=failed"),
  );
}

function minutes(data) {
  const peak = Math.max(1, ...data.minutes.flatMap((m) => BARS.map((kind) => m[kind])));
  const bar = (kind, n) => h("span", { class: `bar ${kind}`, style: { height: `${(100 * n) / peak}%` } });
  fill(
    document.getElementById("minutes"),
    data.minutes.map((m) =>
      h(
        "div",
        {
          class: "minute",
          title: `${m.minute.slice(11, 16)} UTC: ${m.started} started, ${m.completed} completed, ${m.refused} refused, ${m.errors} failed and compensated, ${m.cancelled} cancelled, ${m.failed} stopped for an operator`,
        },
        BARS.map((kind) => bar(kind, m[kind])),
      ),
    ),
  );
  axis(data.minutes);
  const sum = (key) => data.minutes.reduce((total, m) => total + m[key], 0);
  text(
    "minutes-summary",
    `In the last hour: ${sum("started")} started, ${sum("completed")} completed, ${sum("refused")} refused, ${sum("errors")} failed and compensated, ${sum("cancelled")} cancelled, ${sum("failed")} stopped for an operator (peak ${peak} per minute).`,
  );
}

// The time axis under the bars: a label every AXIS_EVERY minutes, at its minute's centre.
function axis(rows) {
  const n = rows.length;
  const at = (i) => `${((100 * (i + 0.5)) / n).toFixed(2)}%`;
  const ticks = rows.flatMap((m, i) =>
    Number(m.minute.slice(14, 16)) % AXIS_EVERY === 0 && i < n - 3
      ? [h("time", { datetime: m.minute, dataset: { format: "minute" }, style: { left: at(i) } }, m.minute.slice(11, 16))]
      : [],
  );
  const last = rows[n - 1];
  fill(
    document.getElementById("minutes-axis"),
    ticks,
    last ? h("time", { datetime: last.minute, class: "now", dataset: { format: "minute" }, style: { left: at(n - 1) } }, last.minute.slice(11, 16)) : null,
  );
}

function types(data) {
  const rate = (n, r) => `${n}${r ? ` · ${(100 * r).toFixed(1)} %` : ""}`;
  fill(
    document.getElementById("types"),
    data.types.map((t) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, h("a", { href: `/sagas/?type=${encodeURIComponent(t.type)}` }, t.type)),
        h("td", {}, String(t.completed)),
        h("td", { class: "refused" }, rate(t.refused, t.refusal_rate)),
        h("td", { class: "errors" }, rate(t.errors + t.failed, t.failure_rate)),
        h("td", {}, String(t.cancelled)),
        h("td", {}, t.failed ? h("a", { href: `/sagas/?type=${encodeURIComponent(t.type)}&status=failed` }, String(t.failed)) : "0"),
        h("td", {}, t.p95_seconds === null ? "—" : duration(1000 * t.p95_seconds)),
      ),
    ),
  );
}

function sagaList(id, sagas, empty, extra) {
  const items = sagas.map((s) =>
    h(
      "li",
      {},
      h("a", { href: sagaUrl(s.id) }, h("code", {}, s.id.slice(0, 8)), " ", s.type, " ", s.correlation_id),
      " ",
      badge(s.status),
      extra ? " " + extra(s) : "",
      s.reason ? h("div", { class: "reason" }, s.reason) : null,
    ),
  );
  fill(document.getElementById(id), items.length ? items : h("li", { class: "muted" }, empty));
}

function problemList(problems) {
  fill(
    document.getElementById("top-problems"),
    problems.length
      ? problems.map((p) =>
          h(
            "li",
            {},
            h("a", { href: `/sagas/?problem=${p.id}&status=failed` }, h("strong", {}, String(p.open_count)), ` × ${p.type}.${p.step || "?"}`),
            " ",
            h("code", {}, p.error_type),
            " ",
            h("span", { class: "reason" }, p.message),
            p.regressed_at ? h("span", { class: "badge failed" }, "regressed") : null,
          ),
        )
      : h("li", { class: "muted" }, "None: no open problem."),
  );
}

function render(data) {
  counts(data);
  outcomes(data);
  minutes(data);
  types(data);
  sagaList("recent", data.recent, "No sagas yet.", (s) => dateTime(s.created_at));
  problemList(data.problems);
  sagaList("failed", data.failed, "None: nothing is waiting for an operator.");
  text("failed-count", data.counts.failed ? `(${data.counts.failed})` : "");
  sagaList("stuck", data.stuck, "None.", (s) => `no change for ${duration(1000 * s.idle_seconds)} at ${s.current_step ?? "?"}`);
  text("generated", `${dateTime(data.generated_at)} ${zoneName()}`);
}

const initial = readData("overview-data");
render(initial);
new LiveSocket("/ws/overview/", {
  lastEventId: initial.last_event_id,
  onFrame(frame) {
    if (frame.type === "overview") render(frame);
  },
});
