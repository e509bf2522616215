// The saga list: rows the server rendered, kept live. Every row, on the page or in a frame,
// comes from one server template (templates/dashboard/saga_row.html), which escapes saga
// data. Changed rows are replaced when the pushed version is newer (keeping their bulk
// tick); new sagas matching the filters appear on the first page while it has room, and
// past that are counted in a "N newer, show them" banner: the first page stays one page
// (its "Older sagas" link still starts where its last row ends). The bulk bar's "all N
// match" follows the server's count.

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
  const shown = [...rows.children].filter((tr) => tr.dataset.id);
  if (shown.length >= config.page_size) {
    // A full page: a saga newer than its last row would push that row to the next page.
    const oldest = shown[shown.length - 1].dataset.created || "";
    if (saga.created_at > oldest) countNewer(saga.id);
    return;
  }
  rows.querySelector("tr.empty")?.remove();
  const fresh = row(saga);
  // Newest first, like the server's order.
  const before = shown.find((tr) => (tr.dataset.created || "") < saga.created_at);
  rows.insertBefore(fresh, before ?? null);
  flash(fresh);
}

const newer = new Set();

function countNewer(id) {
  newer.add(id);
  const banner = document.getElementById("newer");
  if (!banner) return;
  banner.hidden = false;
  document.getElementById("show-newer").textContent = `${newer.size} newer, show them`;
}

function showCount(matching) {
  const figure = document.getElementById("bulk-matching");
  if (!figure || !matching) return;
  figure.textContent = `${matching.count}${matching.more ? "+" : ""}`;
  const scope = document.getElementById("bulk-scope-filter");
  scope.disabled = matching.count === 0;
  if (scope.disabled && scope.checked) document.getElementById("bulk-scope-ids").checked = true;
}

// The first page as it is now, newest first: a reload of this address (it has no cursor).
document.getElementById("show-newer")?.addEventListener("click", () => location.reload());

new LiveSocket("/ws/sagas/", {
  params: config.params,
  lastEventId: config.last_event_id,
  onFrame(frame) {
    if (frame.type === "snapshot") {
      // Oldest first, so new rows stack up newest on top.
      for (const saga of [...(frame.rows ?? [])].reverse()) show(saga);
      for (const saga of frame.changed ?? []) show(saga);
      showCount(frame.matching);
    } else if (frame.type === "sagas") {
      for (const saga of frame.sagas) show(saga);
    } else if (frame.type === "count") {
      showCount(frame);
    }
  },
});
