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

function minutes(data) {
  const peak = Math.max(1, ...data.minutes.flatMap((m) => [m.started, m.completed, m.compensated]));
  const bar = (kind, n) => h("span", { class: `bar ${kind}`, style: { height: `${(100 * n) / peak}%` } });
  fill(
    document.getElementById("minutes"),
    data.minutes.map((m) =>
      h(
        "div",
        { class: "minute", title: `${m.minute.slice(11, 16)} UTC: ${m.started} started, ${m.completed} completed, ${m.compensated} compensated` },
        bar("started", m.started),
        bar("completed", m.completed),
        bar("compensated", m.compensated),
      ),
    ),
  );
  const sum = (key) => data.minutes.reduce((total, m) => total + m[key], 0);
  text("minutes-summary", `In the last hour: ${sum("started")} started, ${sum("completed")} completed, ${sum("compensated")} compensated (peak ${peak} per minute).`);
}

function types(data) {
  fill(
    document.getElementById("types"),
    data.types.map((t) =>
      h(
        "tr",
        {},
        h("th", { scope: "row" }, h("a", { href: `/sagas/?type=${encodeURIComponent(t.type)}` }, t.type)),
        h("td", {}, String(t.completed)),
        h("td", {}, String(t.compensated)),
        h("td", {}, String(t.failed)),
        h("td", {}, t.failure_rate === null ? "—" : `${(100 * t.failure_rate).toFixed(1)} %`),
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
