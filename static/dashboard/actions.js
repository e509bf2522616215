// The detail page's operator actions: a button per action the saga's state allows (and the
// user may take), each opening a confirmation that says what will happen, asks for a reason
// where the action overrides the orchestrator, and posts with the saga's version. The
// server says no with 409 when the saga changed; the dialog then shows why and lets the
// operator review the saga as it is now. Actions and audit are re-read whenever the live
// feed shows a new version: a push is a hint, the server is the truth.

import { renderAudit } from "./audit.js";
import { clock, fill, h, serverNow, text } from "./dom.js";
import { getJson, postForm } from "./http.js";
import { InputEditor } from "./inputedit.js";

export class OperatorPanel {
  constructor(data, { onInput }) {
    this.data = data;
    this.onInput = onInput;
    this.current = null; // {action, version}: what the open dialog was opened for
    this.stale = false;
    this.busy = false;
    this.loading = false;
    this.again = false;
    this.dialog = document.getElementById("action-dialog");
    this.form = document.getElementById("action-form");
    this.confirm = document.getElementById("dialog-confirm");
    this.reason = document.getElementById("dialog-reason");
    this.editor = new InputEditor({ onChange: () => this.updateConfirm() });
    this.form.addEventListener("submit", (event) => this.submit(event));
    this.dialog.addEventListener("close", () => this.closed());
    document.getElementById("dialog-cancel").addEventListener("click", () => this.dialog.close("cancel"));
    document.getElementById("dialog-review").addEventListener("click", () => this.review());
    this.editor.stop();
    this.render();
  }

  render() {
    const d = this.data;
    fill(
      document.getElementById("action-buttons"),
      d.actions.map((a) =>
        h(
          "li",
          {},
          h("button", { type: "button", class: "action-button", dataset: { action: a.name }, "aria-haspopup": "dialog", onclick: () => this.open(a) }, a.label),
          " ",
          h("span", { class: "muted" }, a.effect),
        ),
      ),
    );
    const none = document.getElementById("actions-none");
    none.hidden = d.actions.length > 0;
    none.textContent = d.may_act
      ? `None now: a ${d.status} saga allows none of the actions you may take.`
      : "You may look but not act: your account has no permission for operator actions.";
    const unavailable = document.getElementById("actions-unavailable");
    unavailable.hidden = d.unavailable.length === 0;
    fill(unavailable.querySelector("ul"), d.unavailable.map((u) => h("li", { dataset: { action: u.name } }, h("strong", {}, u.label), `: ${u.why}`)));
    renderAudit(d.audit);
  }

  // The server's view (from a refresh or an action's answer); older answers are dropped.
  update(data) {
    if (!data || data.version < this.data.version) return;
    const inputChanged = JSON.stringify(data.input) !== JSON.stringify(this.data.input);
    this.data = data;
    this.render();
    if (inputChanged) this.onInput(data.input);
    // While our own post is out, its answer (not this refresh) says what became of it.
    if (this.current && !this.busy && data.version !== this.current.version) this.markStale();
  }

  // The live feed saw this version of the saga.
  sawVersion(version) {
    if (version > this.data.version) this.refresh();
  }

  async refresh() {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    const answer = await getJson(this.data.urls.refresh);
    if (answer.ok) this.update(answer.body);
    this.loading = false;
    if (this.again) {
      this.again = false;
      this.refresh();
    }
  }

  open(action, { keep = false } = {}) {
    this.current = { action, version: this.data.version };
    this.stale = false;
    document.getElementById("dialog-stale").hidden = true;
    this.showError("");
    text("dialog-title", `${action.label}: ${this.data.saga.slice(0, 8)} (version ${this.data.version})`);
    text("dialog-effect", action.effect);
    text("dialog-summary", `In short: ${action.summary}.`);
    document.getElementById("dialog-version").value = String(this.data.version);
    this.reason.required = action.needs_reason;
    if (!keep) this.reason.value = "";
    text(
      "dialog-reason-label",
      action.needs_reason ? "Reason (required: this overrides the orchestrator, and the audit trail keeps it)" : "Reason (optional; the audit trail keeps it)",
    );
    document.getElementById("dialog-edit").hidden = !action.edits_input;
    if (action.edits_input) this.editor.start(this.data.input, this.data.urls.diff, { keepText: keep });
    else this.editor.stop();
    this.confirm.textContent = `Confirm: ${action.label}`;
    this.form.setAttribute("action", action.url); // what the script posts to, and a plain submit
    if (!this.dialog.open) this.dialog.showModal();
    (action.edits_input ? document.getElementById("dialog-input") : this.reason).focus();
    this.updateConfirm();
  }

  closed() {
    this.current = null;
    this.stale = false;
    this.editor.stop();
  }

  markStale() {
    this.stale = true;
    text("dialog-stale-text", `The saga changed while this was open (version ${this.current.version} → ${this.data.version}), so what is written above may no longer be what would happen.`);
    document.getElementById("dialog-stale").hidden = false;
    this.updateConfirm();
  }

  review() {
    const name = this.current.action.name;
    const again = this.data.actions.find((a) => a.name === name);
    if (again) {
      this.open(again, { keep: true });
      return;
    }
    const why = this.data.unavailable.find((u) => u.name === name)?.why ?? "the saga's state no longer allows it";
    document.getElementById("dialog-stale").hidden = true;
    this.showError(`${this.current.action.label} is not possible any more: ${why}.`);
  }

  updateConfirm() {
    const c = this.current;
    this.confirm.disabled = !c || this.busy || this.stale || (c.action.edits_input && !this.editor.ready());
  }

  showError(message) {
    const error = document.getElementById("dialog-error");
    error.hidden = !message;
    error.textContent = message;
  }

  async submit(event) {
    event.preventDefault();
    if (!this.current || this.busy || this.confirm.disabled) return; // a second click sends nothing
    const { action } = this.current;
    this.busy = true;
    this.updateConfirm();
    this.showError("");
    const answer = await postForm(action.url, new FormData(this.form));
    this.busy = false;
    if (answer.ok) {
      this.current = null;
      if (this.dialog.open) this.dialog.close("done");
      this.announce(answer.detail);
      this.update(answer.body.operator);
      return;
    }
    const lost = answer.status === 0 ? " It may or may not have been applied: this page shows the saga live, so check it before trying again." : "";
    const message = `Refused (${answer.status || "no answer"}): ${answer.detail}${lost}`;
    if (this.dialog.open && this.current) {
      this.showError(message);
      this.update(answer.body.operator);
      this.updateConfirm();
    } else {
      this.announce(message);
    }
  }

  announce(message) {
    const result = document.getElementById("action-result");
    result.textContent = `${clock(new Date(serverNow()).toISOString()).slice(0, 8)} · ${message}`;
    result.hidden = false;
    result.tabIndex = -1;
    result.focus(); // the button that opened the dialog may be gone: the actions were redrawn
  }
}
