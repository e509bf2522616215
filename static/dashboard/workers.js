// The workers page: processes and their heartbeats (red when silent past their lease
// time), the due backlog, the outbox per destination, the relay and its circuits.
// Heartbeats change no saga, so there is no push to wait for: the page polls its figures.

import { renderCircuits } from "./circuits.js";
import { dateTime, duration, fill, h, readData, serverNow, syncClock, text } from "./dom.js";

const POLL_MS = 2000;
let current = readData("workers-data");

function ago(iso) {
  return `${duration(Math.max(0, serverNow() - Date.parse(iso)))} ago`;
}

function processRow(p) {
  // Judged again on this browser's clock between polls, so a dead process turns red even
  // if the next answer is slow.
  const silent = (serverNow() - Date.parse(p.last_beat)) / 1000;
  const alive = p.alive && silent <= p.lease_seconds;
  return h(
    "tr",
    { class: alive ? "alive" : "dead", dataset: { process: p.process_id, alive: String(alive) } },
    h("td", {}, h("span", { class: `badge ${alive ? "completed" : "failed"}` }, alive ? "alive" : `silent for ${duration(1000 * silent)}`)),
    h("td", {}, p.name ? `${p.kind} (${p.name})` : p.kind),
    h("td", {}, p.host),
    h("td", {}, String(p.pid)),
    h("td", { title: dateTime(p.started_at) }, ago(p.started_at)),
    h("td", { title: dateTime(p.last_beat) }, ago(p.last_beat)),
    h("td", {}, String(p.leases_held)),
    h("td", {}, p.transitions_per_second.toFixed(1)),
    h("td", {}, h("code", {}, p.process_id)),
  );
}

function render(data) {
  syncClock(data.generated_at);
  text("due", String(data.backlog.due));
  text("due-oldest", data.backlog.oldest_age_seconds === null ? "—" : duration(1000 * data.backlog.oldest_age_seconds));
  const relay = data.relay;
  text(
    "relay",
    relay.alive
      ? `${relay.alive} running`
      : relay.http_destinations.length
        ? `none running: commands to ${relay.http_destinations.join(", ")} wait`
        : "not needed (no participant over HTTP)",
  );
  fill(
    document.getElementById("processes"),
    data.processes.length
      ? data.processes.map(processRow)
      : h("tr", {}, h("td", { colspan: "9", class: "muted" }, "No worker, relay or participant process has beaten yet.")),
  );
  fill(
    document.getElementById("outbox"),
    data.outbox.length
      ? data.outbox.map((d) => h("tr", {}, h("td", {}, d.destination), h("td", {}, String(d.pending)), h("td", {}, d.oldest_age_seconds === null ? "—" : duration(1000 * d.oldest_age_seconds)), h("td", {}, String(d.dead))))
      : h("tr", {}, h("td", { colspan: "4", class: "muted" }, "Nothing waiting, no dead letters.")),
  );
  renderCircuits(document.getElementById("circuits"), data.circuits);
}

async function poll() {
  const error = document.getElementById("refresh-error");
  try {
    const response = await fetch("/workers/data/", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("application/json")) {
      throw new Error(response.ok ? "the session may have expired; reload the page" : `the server answered ${response.status}`);
    }
    current = await response.json();
    error.hidden = true;
  } catch (exc) {
    error.hidden = false;
    error.textContent = `Could not refresh: ${exc.message}. Showing the figures of ${dateTime(current.generated_at)}.`;
  }
  render(current);
}

render(current);
setInterval(poll, POLL_MS);
