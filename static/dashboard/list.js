// The saga list: rows the server rendered, kept live. Changed rows are replaced when the
// pushed version is newer (keeping their bulk tick); new sagas matching the filters appear
// on the first page.

import { badge, clock, dateTime, h, readData, sagaUrl } from "./dom.js";
import { LiveSocket } from "./live.js";

const config = readData("list-config");
const rows = document.getElementById("saga-rows");

function tick(saga, checked) {
  // Associated with the bulk form by its id, like the rows the server rendered.
  const box = h("input", { type: "checkbox", name: "ids", value: saga.id, form: "bulk-form", "aria-label": `Tick saga ${saga.id}` });
  box.checked = checked;
  return h("td", { class: "tick" }, box);
}

function row(saga, checked = false) {
  return h(
    "tr",
    { dataset: { id: saga.id, version: String(saga.version), created: saga.created_at } },
    config.bulk ? tick(saga, checked) : null,
    h("td", {}, h("a", { href: sagaUrl(saga.id) }, h("code", {}, saga.id.slice(0, 8)))),
    h("td", {}, saga.type),
    h("td", {}, badge(saga.status)),
    h("td", {}, saga.correlation_id),
    h("td", {}, saga.current_step ?? "", " ", h("span", { class: "muted" }, saga.phase)),
    h("td", {}, h("time", { datetime: saga.created_at }, dateTime(saga.created_at))),
    h("td", {}, h("time", { datetime: saga.updated_at }, clock(saga.updated_at).slice(0, 8))),
    h("td", { class: "reason" }, saga.reason.length > 120 ? saga.reason.slice(0, 119) + "…" : saga.reason),
  );
}

function find(id) {
  for (const tr of rows.children) if (tr.dataset.id === id) return tr;
  return null;
}

function flash(tr) {
  tr.classList.add("flash");
  setTimeout(() => tr.classList.remove("flash"), 1500);
}

function show(saga) {
  const existing = find(saga.id);
  if (existing) {
    if (Number(existing.dataset.version) >= saga.version) return;
    const fresh = row(saga, Boolean(existing.querySelector("input[name=ids]")?.checked));
    existing.replaceWith(fresh);
    flash(fresh);
    return;
  }
  if (!config.first_page) return;
  rows.querySelector("tr.empty")?.remove();
  const fresh = row(saga);
  fresh.dataset.created = saga.created_at;
  // Newest first, like the server's order; a row without a start time stays where it is.
  const before = [...rows.children].find((tr) => (tr.dataset.created || tr.querySelector("time")?.getAttribute("datetime") || "") < saga.created_at);
  rows.insertBefore(fresh, before ?? null);
  flash(fresh);
}

new LiveSocket("/ws/sagas/", {
  params: config.params,
  lastEventId: config.last_event_id,
  onFrame(frame) {
    if (frame.type === "snapshot") {
      // Oldest first, so new rows stack up newest on top.
      for (const saga of [...(frame.rows ?? [])].reverse()) show(saga);
      for (const saga of frame.changed ?? []) show(saga);
    } else if (frame.type === "sagas") {
      for (const saga of frame.sagas) show(saga);
    }
  },
});
