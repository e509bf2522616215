// The detail page's timeline: a bar per attempt on one time axis (axis.js: idle gaps are
// compressed into a marked break), forward steps in one lane, compensations in their own
// in the order they ran, operator actions as markers. Bars have a minimum width and every
// label stays inside the box.

import { compressedAxis, roughly } from "./axis.js";
import { clock, duration, fill, h, serverNow } from "./dom.js";

const ACTIVE = new Set(["running", "compensating"]);
const BAR_MIN = "1.75rem"; // the narrowest bar still shows its "#n" and takes a click

// What a bar looks like: an attempt's status, read in the light of its phase.
export function look(a) {
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

export function attemptMs(a) {
  return a.duration_ms ?? attemptEnd(a) - ms(a.started_at);
}

function describe(a) {
  const parts = [`${a.name} · ${a.phase} attempt ${a.attempt}`, look(a), duration(attemptMs(a))];
  if (a.error_message) parts.push(a.error_message);
  return parts.join(" · ");
}

function axisOf(state) {
  const spans = [[ms(state.saga.created_at), ms(state.saga.created_at)]];
  for (const a of state.attempts.values()) spans.push([ms(a.started_at), attemptEnd(a)]);
  for (const e of state.events) spans.push([ms(e.created_at), ms(e.created_at)]);
  if (ACTIVE.has(state.saga.status)) spans.push([serverNow(), serverNow()]);
  return compressedAxis(spans);
}

function compensationOrder(state) {
  // Compensations in the order they started, then the ones planned but not started yet.
  const started = [];
  const attempts = [...state.attempts.values()].filter((a) => a.phase === "compensation");
  attempts.sort((x, y) => ms(x.started_at) - ms(y.started_at) || x.id - y.id);
  for (const a of attempts) if (!started.includes(a.name)) started.push(a.name);
  const plans = state.events.filter((e) => e.type === "compensation_started");
  const plan = plans.length ? plans[plans.length - 1].payload.plan || [] : [];
  return [...started, ...plan.filter((name) => !started.includes(name))];
}

function gaps(axis) {
  // The break drawn across each track; its length is told once, on the axis row.
  return axis.gaps.map((g) => h("span", { class: "gap", style: { left: `${g.left}%`, width: `${g.width}%` }, "aria-hidden": "true" }));
}

function bar(a, axis, ctx) {
  const left = axis.x(ms(a.started_at));
  const width = Math.max(axis.x(attemptEnd(a)) - left, 0);
  const label = describe(a);
  return h(
    "button",
    {
      type: "button",
      class: `bar s-${look(a)}${ctx.selected === a.id ? " selected" : ""}`,
      // Never past the right edge, however narrow the bar or late its start.
      style: { left: `min(${left}%, 100% - ${BAR_MIN})`, width: `${width}%`, minWidth: BAR_MIN },
      dataset: { id: String(a.id), step: a.name, phase: a.phase, attempt: String(a.attempt), status: look(a) },
      title: label,
      "aria-label": label,
      onclick: () => ctx.onSelect(a.id),
    },
    `#${a.attempt}`,
  );
}

function row(name, phase, index, axis, ctx) {
  const attempts = [...ctx.state.attempts.values()].filter((a) => a.name === name && a.phase === phase);
  attempts.sort((x, y) => x.attempt - y.attempt);
  const kind = ctx.state.kinds[name]?.kind ?? "";
  const prefix = phase === "forward" ? `T${index + 1}` : `C${index + 1}`;
  return h(
    "div",
    { class: "row", dataset: { step: name, phase } },
    h("div", { class: "label", title: `${name} (${kind || "not in this code's definition"})` }, h("span", { class: "step-no" }, prefix), " ", name),
    h("div", { class: "track" }, gaps(axis), attempts.map((a) => bar(a, axis, ctx))),
  );
}

function operatorRow(axis, ctx) {
  const actions = ctx.state.events.filter((e) => e.type === "operator_action");
  if (!actions.length) return null;
  return h(
    "div",
    { class: "row operator-row" },
    h("div", { class: "label" }, "Operator"),
    h(
      "div",
      { class: "track" },
      gaps(axis),
      actions.map((e) => {
        const p = e.payload || {};
        const label = `${p.action ?? "action"} by ${p.actor ?? e.actor}${p.reason ? ": " + p.reason : ""} at ${clock(e.created_at)} (step ${e.step})`;
        const x = axis.x(ms(e.created_at));
        return h(
          "button",
          {
            type: "button",
            // In the right half the label reads leftwards from its line, so it stays inside.
            class: x > 50 ? "marker end" : "marker",
            style: x > 50 ? { right: `${100 - x}%` } : { left: `${x}%` },
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

function ticks(axis) {
  // Each cluster's start (and end, and a few between when it is wide) as time since the
  // saga started; each break as how long nothing happened. Overlaps are hidden after layout.
  const marks = [];
  const tick = (t, x, align, priority) => {
    const text = `+${duration(t - axis.start)}`;
    if (!marks.some((m) => m.text === text)) marks.push({ text, x, align, priority });
  };
  for (const c of axis.clusters) {
    tick(c.start, c.left, "start", 1);
    if (c.end > c.start && c.width >= 15) tick(c.end, c.left + c.width, "end", 2);
    const between = Math.floor(c.width / 20);
    for (let i = 1; i < between; i += 1) tick(c.start + ((c.end - c.start) * i) / between, c.left + (c.width * i) / between, "middle", 3);
  }
  const shift = { start: "none", middle: "translateX(-50%)", end: "translateX(-100%)" };
  return h(
    "div",
    { class: "row axis", "aria-hidden": "true" },
    h("div", { class: "label" }),
    h(
      "div",
      { class: "track" },
      axis.gaps.map((g) =>
        h("span", { class: "gap gap-label", style: { left: `${g.left}%`, width: `${g.width}%` }, title: `nothing happened for ${duration(g.to - g.from)}`, dataset: { priority: "0", idleMs: String(g.to - g.from) } }, roughly(g.to - g.from)),
      ),
      marks.map((m) => h("span", { class: "tick", style: { left: `${m.x}%`, transform: shift[m.align] }, dataset: { priority: String(m.priority) } }, m.text)),
    ),
  );
}

function hideOverlaps(el) {
  // Most important first (breaks, then cluster starts, ends, the rest); a label that would
  // overlap one already shown, or leave the box, is hidden.
  const box = el.getBoundingClientRect();
  const labels = [...el.querySelectorAll(".axis .gap-label, .axis .tick")];
  labels.sort((x, y) => Number(x.dataset.priority) - Number(y.dataset.priority));
  const shown = [];
  for (const label of labels) {
    const r = label.getBoundingClientRect();
    const clash = shown.some((s) => r.left < s.right + 4 && s.left < r.right + 4);
    const outside = r.left < box.left || r.right > box.right;
    if (clash || (outside && !label.classList.contains("gap-label"))) label.hidden = true;
    else shown.push(r);
  }
}

export function drawTimeline(el, state, { selected, onSelect }) {
  const focused = document.activeElement?.dataset?.id;
  const axis = axisOf(state);
  const ctx = { state, selected, onSelect };
  const index = (name) => state.definition.indexOf(name);
  const compensations = compensationOrder(state);
  fill(
    el,
    ticks(axis),
    operatorRow(axis, ctx),
    h(
      "div",
      { class: "lane forward", role: "group", "aria-label": "Forward steps" },
      h("div", { class: "lane-title" }, "Forward"),
      state.definition.map((name, i) => row(name, "forward", i, axis, ctx)),
    ),
    compensations.length
      ? h(
          "div",
          { class: "lane compensation", role: "group", "aria-label": "Compensations, in the order they run" },
          h("div", { class: "lane-title" }, "Compensation"),
          compensations.map((name) => row(name, "compensation", index(name), axis, ctx)),
        )
      : null,
  );
  el.dataset.breaks = String(axis.gaps.length);
  hideOverlaps(el);
  if (focused) el.querySelector(`[data-id="${focused}"]`)?.focus();
}
