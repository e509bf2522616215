// One saga: its timeline (a bar per attempt on one time axis; forward steps in one lane,
// compensations in their own, in the order they ran), its steps, events and payloads,
// kept live from the saga's feed.

import { badge, clock, duration, fill, h, pretty, readData, serverNow, syncClock, text } from "./dom.js";
import { OperatorPanel } from "./actions.js";
import { LiveSocket } from "./live.js";

const data = readData("saga-data");
const state = {
  saga: data.saga,
  kinds: data.kinds,
  definition: data.definition,
  attempts: new Map(data.attempts.map((a) => [a.id, a])),
  events: [],
  lastShown: 0,
  selected: null,
};
const ACTIVE = new Set(["running", "compensating"]);
const timeline = document.getElementById("timeline");

// What a bar looks like: an attempt's status, read in the light of its phase.
function look(a) {
  const forward = a.phase === "forward";
  if (a.status === "succeeded") return forward ? "succeeded" : "compensated";
  if (a.status === "running" || a.status === "pending") return forward ? "waiting" : "compensating";
  return a.status;
}

function ms(iso) {
  return Date.parse(iso);
}

function attemptEnd(a) {
  return a.finished_at ? ms(a.finished_at) : Math.max(serverNow(), ms(a.started_at));
}

function attemptMs(a) {
  return a.duration_ms ?? attemptEnd(a) - ms(a.started_at);
}

function describe(a) {
  const parts = [`${a.name} · ${a.phase} attempt ${a.attempt}`, look(a), duration(attemptMs(a))];
  if (a.error_message) parts.push(a.error_message);
  return parts.join(" · ");
}

function axis() {
  let start = ms(state.saga.created_at);
  let end = start;
  for (const a of state.attempts.values()) {
    start = Math.min(start, ms(a.started_at));
    end = Math.max(end, attemptEnd(a));
  }
  for (const e of state.events) end = Math.max(end, ms(e.created_at));
  if (ACTIVE.has(state.saga.status)) end = Math.max(end, serverNow());
  return [start, Math.max(end, start + 1000)];
}

function compensationOrder() {
  // Compensations in the order they started, then the ones planned but not started yet.
  const started = [];
  const attempts = [...state.attempts.values()].filter((a) => a.phase === "compensation");
  attempts.sort((x, y) => ms(x.started_at) - ms(y.started_at) || x.id - y.id);
  for (const a of attempts) if (!started.includes(a.name)) started.push(a.name);
  const plans = state.events.filter((e) => e.type === "compensation_started");
  const plan = plans.length ? plans[plans.length - 1].payload.plan || [] : [];
  return [...started, ...plan.filter((name) => !started.includes(name))];
}

function bar(a, [start, end]) {
  const span = end - start;
  const left = (100 * (ms(a.started_at) - start)) / span;
  const width = Math.max((100 * attemptMs(a)) / span, 0.6);
  const label = describe(a);
  return h(
    "button",
    {
      type: "button",
      class: `bar s-${look(a)}${state.selected === a.id ? " selected" : ""}`,
      style: { left: `${Math.min(left, 99.4)}%`, width: `${Math.min(width, 100 - Math.min(left, 99.4))}%` },
      dataset: { id: String(a.id), step: a.name, phase: a.phase, attempt: String(a.attempt), status: look(a) },
      title: label,
      "aria-label": label,
      onclick: () => select(a.id),
    },
    `#${a.attempt}`,
  );
}

function row(name, phase, index, range) {
  const attempts = [...state.attempts.values()].filter((a) => a.name === name && a.phase === phase);
  attempts.sort((x, y) => x.attempt - y.attempt);
  const kind = state.kinds[name]?.kind ?? "";
  const prefix = phase === "forward" ? `T${index + 1}` : `C${index + 1}`;
  return h(
    "div",
    { class: "row", dataset: { step: name, phase } },
    h("div", { class: "label", title: `${name} (${kind || "not in this code's definition"})` }, h("span", { class: "step-no" }, prefix), " ", name),
    h("div", { class: "track" }, attempts.map((a) => bar(a, range))),
  );
}

function operatorRow([start, end]) {
  const actions = state.events.filter((e) => e.type === "operator_action");
  if (!actions.length) return null;
  return h(
    "div",
    { class: "row operator-row" },
    h("div", { class: "label" }, "Operator"),
    h(
      "div",
      { class: "track" },
      actions.map((e) => {
        const p = e.payload || {};
        const label = `${p.action ?? "action"} by ${p.actor ?? e.actor}${p.reason ? ": " + p.reason : ""} at ${clock(e.created_at)} (step ${e.step})`;
        return h(
          "button",
          {
            type: "button",
            class: "marker",
            style: { left: `${(100 * (ms(e.created_at) - start)) / (end - start)}%` },
            dataset: { event: String(e.id), action: p.action ?? "" },
            title: label,
            "aria-label": label,
            onclick: () => document.querySelector(`tr[data-event="${e.id}"]`)?.scrollIntoView({ block: "center" }),
          },
          p.action ?? "action",
        );
      }),
    ),
  );
}

function ticks([start, end]) {
  return h(
    "div",
    { class: "row axis", "aria-hidden": "true" },
    h("div", { class: "label" }),
    h(
      "div",
      { class: "track" },
      [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", { class: "tick", style: { left: `${100 * f}%` } }, `+${duration(f * (end - start))}`)),
    ),
  );
}

function renderTimeline() {
  const focused = document.activeElement?.dataset?.id;
  const range = axis();
  const index = (name) => state.definition.indexOf(name);
  const compensations = compensationOrder();
  fill(
    timeline,
    ticks(range),
    operatorRow(range),
    h(
      "div",
      { class: "lane forward", role: "group", "aria-label": "Forward steps" },
      h("div", { class: "lane-title" }, "Forward"),
      state.definition.map((name, i) => row(name, "forward", i, range)),
    ),
    compensations.length
      ? h(
          "div",
          { class: "lane compensation", role: "group", "aria-label": "Compensations, in the order they run" },
          h("div", { class: "lane-title" }, "Compensation"),
          compensations.map((name) => row(name, "compensation", index(name), range)),
        )
      : null,
  );
  if (focused) timeline.querySelector(`[data-id="${focused}"]`)?.focus();
}

function select(id) {
  state.selected = id;
  renderTimeline();
  renderSelected();
}

function renderSelected() {
  const a = state.attempts.get(state.selected);
  const panel = document.getElementById("attempt-detail");
  if (!a) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  text("attempt-title", `${a.name} · ${a.phase} · attempt ${a.attempt}`);
  const facts = [
    ["Status", badge(look(a))],
    ["Kind", state.kinds[a.name]?.kind ?? "—"],
    ["Started", clock(a.started_at)],
    ["Finished", a.finished_at ? clock(a.finished_at) : "not yet"],
    ["Duration", duration(attemptMs(a))],
    ["Deadline", a.deadline ? clock(a.deadline) : "none"],
    ["Generation", String(a.generation)],
    ["Idempotency key", h("code", {}, a.idempotency_key)],
  ];
  if (a.duplicates !== null && a.duplicates !== undefined) facts.push(["Duplicates absorbed", String(a.duplicates)]);
  fill(document.getElementById("attempt-facts"), facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
  const error = document.getElementById("attempt-error");
  error.hidden = !a.error_type;
  error.textContent = a.error_type ? `${a.error_type}: ${a.error_message}` : "";
  text("attempt-result", pretty(a.result));
  document.getElementById("attempt-trace-box").hidden = !a.error_traceback;
  text("attempt-traceback", a.error_traceback);
  // Tracebacks name server paths: the server sends them only with the view_traceback permission.
  document.getElementById("attempt-trace-hidden").hidden = !a.traceback_hidden;
}

function summary(attempts) {
  if (!attempts.length) return "—";
  const last = attempts[attempts.length - 1];
  return h("span", {}, badge(look(last)), attempts.length > 1 ? ` ${attempts.length} attempts` : "");
}

function renderSteps() {
  const all = [...state.attempts.values()];
  const counted = all.some((a) => a.duplicates !== null && a.duplicates !== undefined);
  document.querySelectorAll("table.steps .dup").forEach((cell) => (cell.hidden = !counted));
  const head = document.querySelector("table.steps thead th:last-child");
  if (head) head.hidden = !counted;
  fill(
    document.getElementById("steps"),
    state.definition.map((name, i) => {
      const mine = all.filter((a) => a.name === name).sort((x, y) => x.id - y.id);
      const forward = mine.filter((a) => a.phase === "forward");
      const back = mine.filter((a) => a.phase === "compensation");
      const keys = [...new Set(mine.map((a) => a.idempotency_key))];
      const dups = mine.reduce((n, a) => n + (a.duplicates ?? 0), 0);
      return h(
        "tr",
        { dataset: { step: name } },
        h("td", {}, String(i + 1)),
        h("th", { scope: "row" }, name),
        h("td", {}, state.kinds[name]?.kind ?? "—"),
        h("td", {}, summary(forward)),
        h("td", {}, summary(back)),
        // Every key starts with the saga's id; the rest tells the keys apart. Full key on hover.
        h("td", {}, keys.length ? keys.map((k) => h("code", { class: "key", title: k }, k.replace(`${state.saga.id}:`, "…:"))) : "—"),
        counted ? h("td", { class: "dup" }, String(dups)) : null,
      );
    }),
  );
}

function shortPayload(e) {
  const p = e.payload || {};
  if (p.error) return `${p.error.message}${p.retry_in_s !== undefined ? ` · retry in ${p.retry_in_s} s` : ""}`;
  if (p.reason) return p.reason;
  if (p.action) return `${p.action} by ${p.actor}`;
  return Object.keys(p).join(", ");
}

const FAILURES = new Set(["step_failed", "step_timed_out", "saga_failed"]);

function eventVisible(e) {
  const filter = document.getElementById("event-filter").value;
  if (!filter) return true;
  if (filter === "failures") return FAILURES.has(e.type);
  return e.type === filter;
}

function eventRow(e) {
  const payload = e.payload && Object.keys(e.payload).length;
  return h(
    "tr",
    { class: e.type === "operator_action" ? "operator" : "", dataset: { event: String(e.id), type: e.type }, hidden: !eventVisible(e) },
    h("td", {}, String(e.id)),
    h("td", {}, h("time", { datetime: e.created_at }, clock(e.created_at))),
    h("td", {}, e.type),
    h("td", {}, e.step),
    h("td", {}, e.phase),
    h("td", {}, e.attempt ?? ""),
    h("td", {}, e.status ? badge(e.status) : ""),
    h("td", {}, e.actor),
    h("td", {}, payload ? h("details", {}, h("summary", {}, shortPayload(e)), h("pre", {}, pretty(e.payload))) : ""),
  );
}

function addEvents(events) {
  const body = document.getElementById("events");
  for (const e of events) {
    if (e.id <= state.lastShown) continue;
    state.events.push(e);
    state.lastShown = e.id;
    body.append(eventRow(e));
  }
  text("event-count", `(${state.events.length})`);
}

function renderHeader() {
  const s = state.saga;
  const status = document.getElementById("saga-status");
  status.className = `badge ${s.status}`;
  status.textContent = s.status;
  text("saga-version", String(s.version));
  const reason = text("saga-reason", s.reason);
  reason.hidden = !s.reason;
  text("saga-context", pretty(s.context));
  // The actions were offered for one version; a newer one means asking the server again.
  operator.sawVersion(s.version);
}

function render() {
  renderHeader();
  renderTimeline();
  renderSteps();
  renderSelected();
}

function apply(frame) {
  syncClock(frame.server_time);
  if (frame.saga && frame.saga.version >= state.saga.version) state.saga = frame.saga;
  for (const a of frame.attempts ?? []) state.attempts.set(a.id, a);
  addEvents(frame.events ?? []);
  operator.sawEvents(frame.events ?? []);
  render();
}

text("saga-input", pretty(data.input));
const operator = new OperatorPanel(readData("operator-data"), {
  onInput: (input) => text("saga-input", pretty(input)), // an operator edited it
});
syncClock(data.server_time);
addEvents(data.events);
render();
document.getElementById("event-filter").addEventListener("change", () => {
  for (const tr of document.getElementById("events").children) {
    tr.hidden = !eventVisible(state.events.find((e) => String(e.id) === tr.dataset.event));
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.selected !== null && !document.querySelector("dialog[open]")) {
    state.selected = null;
    renderSelected();
    renderTimeline();
  }
});
// Running bars grow with the clock.
setInterval(() => {
  if (ACTIVE.has(state.saga.status) || [...state.attempts.values()].some((a) => !a.finished_at)) renderTimeline();
}, 1000);

new LiveSocket(`/ws/sagas/${data.saga.id}/`, {
  lastEventId: data.last_event_id,
  onFrame(frame) {
    if (frame.type === "snapshot" || frame.type === "update") apply(frame);
  },
});
