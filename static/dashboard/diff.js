// A JSON diff ([{path, op, before, after}], the service layer's format) as table rows, for
// the edit dialog's preview and the audit trail alike. Values are shown as JSON text.

import { h } from "./dom.js";

const OPS = { added: "added", removed: "removed", changed: "changed" };

function value(v, shown) {
  return shown ? h("code", {}, JSON.stringify(v)) : h("span", { class: "muted" }, "—");
}

export function diffRows(changes) {
  return changes.map((c) =>
    h(
      "tr",
      { class: `diff-${c.op}`, dataset: { path: c.path, op: c.op } },
      h("td", {}, h("code", {}, c.path)),
      h("td", {}, OPS[c.op] ?? c.op),
      h("td", {}, value(c.before, c.op !== "added")),
      h("td", {}, value(c.after, c.op !== "removed")),
    ),
  );
}

export function diffTable(changes, caption) {
  return h(
    "table",
    { class: "diff" },
    caption ? h("caption", {}, caption) : null,
    h("thead", {}, h("tr", {}, ["Path", "Change", "Before", "After"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, diffRows(changes)),
  );
}

export function countChanges(changes) {
  const n = changes.length;
  return `${n} change${n === 1 ? "" : "s"}`;
}
