// Bulk actions on the list page: tick rows, or take every saga the filter matches (all
// pages, counted by the server); choose the action; the server's preview says how many
// sagas, by status, and which it will skip and why; confirming starts a tracked
// operation, whose own page follows its progress.

import { fill, h, sagaUrl, text } from "./dom.js";
import { postForm } from "./http.js";

const form = document.getElementById("bulk-form");
const table = document.getElementById("saga-table");
const dialog = document.getElementById("bulk-dialog");
const confirm = document.getElementById("bulk-confirm");
const action = document.getElementById("bulk-action");
const reason = document.getElementById("bulk-reason");
const pageBox = document.getElementById("bulk-page");
let busy = false;

function boxes() {
  return [...table.querySelectorAll("input[name=ids]")];
}

function scope() {
  return form.elements.scope.value;
}

function refresh() {
  const ticked = boxes().filter((b) => b.checked).length;
  text("bulk-ticked", String(ticked));
  // Under "all that match" the ticks do not count; the table says so by greying them.
  table.dataset.scope = scope();
  const all = boxes();
  pageBox.checked = all.length > 0 && ticked === all.length;
  pageBox.indeterminate = ticked > 0 && ticked < all.length;
  const needs = Boolean(action.selectedOptions[0]?.dataset.needsReason);
  reason.required = needs;
  text("bulk-reason-need", needs ? "(required: this action overrides the orchestrator)" : "(optional)");
}

function showError(id, message) {
  const el = document.getElementById(id);
  el.hidden = !message;
  el.textContent = message;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function renderPreview(p) {
  const skipped = p.total - p.applicable;
  text("bulk-dialog-title", `${p.label}: ${plural(p.applicable, "saga")} of ${p.total}`);
  text("bulk-dialog-what", `${p.label} ${p.selection}: ${p.summary}.`);
  text("preview-total", String(p.total));
  text("preview-applicable", String(p.applicable));
  text("preview-skipped-total", String(skipped));
  fill(
    document.getElementById("preview-by-status"),
    Object.entries(p.by_status).map(([status, n]) => h("li", { dataset: { status } }, h("span", { class: `badge ${status}` }, status), ` ${n}`)),
  );
  document.getElementById("preview-skipped-box").hidden = p.skipped.length === 0;
  fill(
    document.getElementById("preview-skipped"),
    p.skipped.map((s) =>
      h(
        "tr",
        {},
        h("td", {}, s.reason),
        h("td", {}, String(s.count)),
        h("td", {}, s.examples.map((id) => h("a", { href: sagaUrl(id), target: "_blank", rel: "noopener" }, h("code", {}, id.slice(0, 8)), " "))),
      ),
    ),
  );
  confirm.textContent = p.applicable ? `Confirm: ${p.label.toLowerCase()} ${plural(p.applicable, "saga")}` : "Nothing to do";
  confirm.disabled = p.applicable === 0;
}

async function preview(event) {
  event.preventDefault();
  if (busy) return;
  showError("bulk-error", "");
  busy = true;
  const answer = await postForm(form.dataset.previewUrl, new FormData(form));
  busy = false;
  if (!answer.ok) {
    showError("bulk-error", `Preview refused (${answer.status || "no answer"}): ${answer.detail}`);
    return;
  }
  showError("bulk-dialog-error", "");
  renderPreview(answer.body);
  dialog.showModal();
  document.getElementById("bulk-cancel").focus();
}

async function start() {
  if (busy || confirm.disabled) return; // a double click starts one operation
  busy = true;
  confirm.disabled = true;
  // Not form.action: the form has a field named "action", which shadows the property.
  const answer = await postForm(form.getAttribute("action"), new FormData(form));
  if (answer.ok) {
    location.assign(answer.body.url);
    return;
  }
  busy = false;
  confirm.disabled = false;
  showError("bulk-dialog-error", `Refused (${answer.status || "no answer"}): ${answer.detail}`);
}

form.addEventListener("submit", preview);
form.addEventListener("change", refresh);
table.addEventListener("change", (event) => {
  if (event.target === pageBox) {
    for (const box of boxes()) box.checked = pageBox.checked;
  }
  if (event.target.name === "ids" || event.target === pageBox) form.elements.scope.value = "ids";
  refresh();
});
// Live rows come and go under the ticks.
new MutationObserver(refresh).observe(document.getElementById("saga-rows"), { childList: true });
document.getElementById("bulk-cancel").addEventListener("click", () => dialog.close());
confirm.addEventListener("click", start);
refresh();
