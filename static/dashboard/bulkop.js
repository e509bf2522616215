// A bulk operation's page: its progress and the result per saga, re-read every second
// until the operation is done (workers write no saga event for an item they skip, so
// this page polls rather than listens), then left showing the final result.

import { dateTime, h, readData, sagaUrl, text } from "./dom.js";
import { getJson } from "./http.js";

const POLL_MS = 1000;
let data = readData("bulk-data");
const status = document.getElementById("live-status");
const filter = document.getElementById("items-filter");

function show(state, label) {
  status.dataset.state = state;
  status.textContent = label;
}

function itemRow(item) {
  return h(
    "tr",
    { dataset: { saga: item.saga, outcome: item.outcome } },
    h("td", {}, h("a", { href: sagaUrl(item.saga) }, h("code", {}, item.saga))),
    h("td", {}, item.correlation_id),
    h("td", {}, h("span", { class: `badge ${item.outcome}` }, item.outcome)),
    h("td", { class: "message" }, item.message),
  );
}

const rows = new Map(); // saga id -> its row, replaced only when its outcome changes

function renderItems() {
  const body = document.getElementById("bulk-items");
  for (const item of data.items) {
    let tr = rows.get(item.saga);
    if (!tr || tr.dataset.outcome !== item.outcome) {
      const fresh = itemRow(item);
      if (tr) tr.replaceWith(fresh);
      else body.append(fresh);
      rows.set(item.saga, fresh);
      tr = fresh;
    }
    tr.hidden = Boolean(filter.value) && item.outcome !== filter.value;
  }
}

function render() {
  const badge = document.getElementById("bulk-status");
  badge.className = `badge ${data.status}`;
  badge.textContent = data.status;
  const progress = document.getElementById("bulk-progress");
  progress.max = Math.max(data.total, 1);
  progress.value = data.done;
  text("bulk-done", String(data.done));
  text("bulk-total", String(data.total));
  for (const [outcome, n] of Object.entries(data.outcomes)) text(`outcome-${outcome}`, String(n));
  text("bulk-finished", data.finished_at ? dateTime(data.finished_at) : "not yet");
  renderItems();
  const note = document.getElementById("items-note");
  note.hidden = data.items.length >= data.total;
  note.textContent = `The table shows the first ${data.items.length} of ${data.total} sagas; the counts above cover them all.`;
}

async function poll() {
  const answer = await getJson(data.progress_url);
  if (answer.ok) {
    data = answer.body;
    render();
  } else {
    show("disconnected", `progress unavailable (${answer.detail}); retrying`);
  }
  if (data.status === "done") {
    show("live", "finished");
    return;
  }
  if (answer.ok) show("live", "following progress");
  setTimeout(poll, POLL_MS);
}

filter.addEventListener("change", render);
render();
if (data.status === "done") show("live", "finished");
else poll();
