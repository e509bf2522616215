// One saga: its timeline (timeline.js), its steps, events and payloads, kept live from the
// saga's feed.

import { badge, duration, fill, h, pretty, readData, syncClock, text, timeEl } from "./dom.js";
import { OperatorPanel } from "./actions.js";
import { LiveSocket } from "./live.js";
import { attemptMs, drawTimeline, look } from "./timeline.js";

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

function renderTimeline() {
  drawTimeline(timeline, state, { selected: state.selected, onSelect: select });
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
    ["Started", timeEl(a.started_at, "clock")],
    ["Finished", a.finished_at ? timeEl(a.finished_at, "clock") : "not yet"],
    ["Duration", duration(attemptMs(a))],
    ["Deadline", a.deadline ? timeEl(a.deadline, "clock") : "none"],
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

function idempotencyKey(key) {
  // Every key starts with the saga's id; the rest tells the keys apart, so the id is shown
  // as "…" (CSS clips it) yet stays in the text: copying the key copies all of it. Full key
  // on hover too.
  const prefix = `${state.saga.id}:`;
  if (!key.startsWith(prefix)) return h("code", { class: "idem-key", title: key }, key);
  return h("code", { class: "idem-key", title: key }, h("span", { class: "idem-saga" }, state.saga.id), key.slice(prefix.length - 1));
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
        h("td", { class: "minor" }, String(i + 1)),
        h("th", { scope: "row" }, name),
        h("td", { class: "minor" }, state.kinds[name]?.kind ?? "—"),
        // Labels and "minor" are for narrow screens, where each row is a card (base.css).
        h("td", { dataset: { label: "forward" } }, summary(forward)),
        h("td", { dataset: { label: "compensation" } }, summary(back)),
        h("td", { class: "idem-keys wide" }, keys.length ? keys.map(idempotencyKey) : "—"),
        counted ? h("td", { class: "dup minor" }, String(dups)) : null,
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
    h("td", { class: "minor" }, String(e.id)),
    h("td", {}, timeEl(e.created_at, "clock")),
    h("td", { class: "event-type" }, e.type),
    h("td", {}, e.step),
    h("td", { class: "minor" }, e.phase),
    h("td", { class: "minor" }, e.attempt ?? ""),
    h("td", {}, e.status ? badge(e.status) : ""),
    h("td", { class: "minor" }, e.actor),
    h("td", { class: "wide" }, payload ? h("details", {}, h("summary", {}, shortPayload(e)), h("pre", {}, pretty(e.payload))) : ""),
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
// Times written as text (the timeline's labels) follow the reader's zone.
document.addEventListener("sagascope:zone", () => render());
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
