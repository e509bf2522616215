// A circuit per destination, as the outbox and workers pages show it.

import { dateTime, duration, fill, h } from "./dom.js";

export function renderCircuits(tbody, circuits) {
  fill(
    tbody,
    circuits.length
      ? circuits.map((c) =>
          h(
            "tr",
            {},
            h("td", {}, c.destination),
            h("td", {}, h("span", { class: `badge ${c.state === "closed" ? "completed" : c.state === "open" ? "failed" : "compensating"}` }, c.state.replace("_", "-"))),
            h("td", {}, String(c.failures)),
            h("td", { title: c.retry_at ? dateTime(c.retry_at) : "" }, c.retry_in_seconds === null ? "—" : `in ${duration(1000 * c.retry_in_seconds)}`),
            h("td", { class: "reason" }, c.last_error),
          ),
        )
      : h("tr", {}, h("td", { colspan: "5", class: "muted" }, "Every destination has answered so far.")),
  );
}
