// The outbox: what is waiting to be sent, per destination; a message's headers on click.

import { dateTime, duration, fill, h, pretty, readData, sagaUrl, serverNow, syncClock, text } from "./dom.js";
import { renderCircuits } from "./circuits.js";
import { LiveSocket } from "./live.js";

let current = readData("outbox-data");

function age(iso) {
  return duration(serverNow() - Date.parse(iso));
}

function showMessage(message) {
  const panel = document.getElementById("message-detail");
  panel.hidden = false;
  text("message-id", message.message_id);
  text("message-headers", pretty(message.headers));
  panel.scrollIntoView({ block: "nearest" });
}

function sagaCell(m) {
  return h("td", {}, m.saga ? h("a", { href: sagaUrl(m.saga) }, h("code", {}, m.saga.slice(0, 8))) : "—");
}

// A dead letter's saga: a command's own, or the one a reply names (if that saga exists).
function deadSagaCell(m) {
  if (m.saga) return sagaCell(m);
  return h("td", {}, m.saga_named ? h("code", { title: "no saga has this id" }, `${m.saga_named.slice(0, 8)} (unknown)`) : "—");
}

function renderDead(messages) {
  fill(
    document.getElementById("dead-letters"),
    messages.length
      ? messages.map((m) =>
          h(
            "tr",
            {},
            h("td", {}, h("button", { type: "button", class: "link", onclick: () => showMessage(m) }, m.message_id.slice(0, 8))),
            h("td", {}, m.kind),
            h("td", {}, `${m.sender} → ${m.destination}`),
            deadSagaCell(m),
            h("td", {}, [m.step || "—", m.phase, m.attempt ? `#${m.attempt}` : ""].filter(Boolean).join(" · ")),
            h("td", { title: dateTime(m.dead_at) }, `${age(m.dead_at)} ago`),
            h("td", { class: "reason" }, m.reason),
          ),
        )
      : h("tr", {}, h("td", { colspan: "7", class: "muted" }, "No dead letters.")),
  );
}

function render(data) {
  syncClock(data.generated_at);
  text("pending", String(data.pending));
  text("dead", String(data.dead));
  text("oldest", data.oldest_age_seconds === null ? "—" : duration(1000 * data.oldest_age_seconds));
  fill(
    document.getElementById("destinations"),
    data.destinations.length
      ? data.destinations.map((d) => h("tr", {}, h("td", {}, d.destination), h("td", {}, String(d.pending)), h("td", {}, duration(1000 * d.oldest_age_seconds))))
      : h("tr", {}, h("td", { colspan: "3", class: "muted" }, "Nothing waiting.")),
  );
  fill(
    document.getElementById("messages"),
    data.messages.map((m) =>
      h(
        "tr",
        {},
        h("td", {}, h("button", { type: "button", class: "link", onclick: () => showMessage(m) }, m.message_id.slice(0, 8))),
        h("td", {}, m.kind),
        h("td", {}, m.destination),
        sagaCell(m),
        h("td", {}, String(m.attempts)),
        h("td", { title: dateTime(m.created_at) }, age(m.created_at)),
        h("td", { class: "reason" }, m.last_error),
      ),
    ),
  );
  renderCircuits(document.getElementById("circuits"), data.circuits || []);
  renderDead(data.dead_letters || []);
}

render(current);
setInterval(() => render(current), 5000);  // ages grow between pushes
new LiveSocket("/ws/outbox/", {
  onFrame(frame) {
    if (frame.type === "outbox") {
      current = frame;
      render(current);
    }
  },
});
