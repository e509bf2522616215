// The saga list: rows the server rendered, kept live. Every row, on the page or in a frame,
// comes from one server template (templates/dashboard/saga_row.html), which escapes saga
// data. Changed rows are replaced when the pushed version is newer (keeping their bulk
// tick); new sagas matching the filters appear on the first page.

import { readData } from "./dom.js";
import { LiveSocket } from "./live.js";

const config = readData("list-config");
const rows = document.getElementById("saga-rows");

function row(saga, checked = false) {
  // Markup the server rendered and escaped; a <template> parses it and runs nothing.
  const holder = document.createElement("template");
  holder.innerHTML = saga.html;
  const tr = holder.content.querySelector("tr");
  const box = tr.querySelector("input[name=ids]");
  if (box) box.checked = checked;
  return tr;
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
