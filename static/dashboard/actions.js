// The detail page's operator actions: a button per action the saga's state allows (and the
// user may take), each opening a confirmation that says what will happen, asks for a reason
// where the action overrides the orchestrator, and posts with the saga's version. The
// server says no with 409 when the saga changed; the dialog then shows why and lets the
// operator review the saga as it is now. Actions and audit are re-read whenever the live
// feed shows a new version: a push is a hint, the server is the truth.
//
// An edited input on a saga that undid (or is undoing) its steps offers two choices in one
// dialog: finish compensating (retry with edited input: this saga only) or start a new saga
// with the input (the business transaction again; the page then goes to the new saga).

import { renderAudit } from "./audit.js";
import { clock, fill, h, sagaUrl, serverNow, text } from "./dom.js";
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
    for (const id of ["choice-finish", "choice-new"]) {
      document.getElementById(id).addEventListener("change", () => this.choose(id === "choice-new" ? "restart" : "retry_with_input"));
    }
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
    this.renderLinks(d.links);
  }

  // The sagas this one was started again from, and as.
  renderLinks(links) {
    const link = (saga) => h("a", { href: saga.url, class: "restart-link", dataset: { saga: saga.id } }, h("code", {}, saga.id.slice(0, 8)));
    const parts = [];
    if (links?.restarted_from) parts.push(h("span", { id: "restarted-from" }, "Started again from saga ", link(links.restarted_from), ". "));
    if (links?.restarted_as?.length) {
      const each = links.restarted_as.flatMap((saga, i) => (i ? [", ", link(saga)] : [link(saga)]));
      parts.push(h("span", { id: "restarted-as" }, "Started again as ", each, ". "));
    }
    fill(document.getElementById("restart-links"), parts);
  }

  // A new restart of this saga is in its history, though its version did not move.
  sawEvents(events) {
    if (events.some((e) => e.type === "operator_action" && e.payload?.action === "restart")) this.refresh();
  }

  // The server's view (from a refresh or an action's answer); older answers are dropped.
  update(data) {
    if (!data || data.version < this.data.version) return;
    const inputChanged = JSON.stringify(data.input) !== JSON.stringify(this.data.input);
    this.data = data;
    this.render();
    if (inputChanged) this.onInput(data.input);
    // While our own post is out, its answer (not this refresh) says what became of it. A
    // new saga does not depend on this one's version.
    if (this.current && !this.busy && data.version !== this.current.version && !this.current.action.new_saga) this.markStale();
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
    document.getElementById("dialog-version").value = String(this.data.version);
    if (!keep) this.reason.value = "";
    this.offerChoice(action);
    this.describe(action);
    document.getElementById("dialog-edit").hidden = !action.edits_input;
    if (action.edits_input) this.editor.start(this.data.input, action.diff_url ?? this.data.urls.diff, { keepText: keep });
    else this.editor.stop();
    if (!this.dialog.open) this.dialog.showModal();
    (action.edits_input ? document.getElementById("dialog-input") : this.reason).focus();
    this.updateConfirm();
  }

  // The dialog's words and target for `action` (also when the operator switches choice).
  describe(action) {
    const title = action.new_saga ? `${action.label}: from ${this.data.saga.slice(0, 8)}` : `${action.label}: ${this.data.saga.slice(0, 8)} (version ${this.data.version})`;
    text("dialog-title", title);
    text("dialog-effect", action.effect);
    text("dialog-summary", `In short: ${action.summary}.`);
    this.reason.required = action.needs_reason;
    text(
      "dialog-reason-label",
      action.new_saga
        ? "Reason (required: this saga's audit trail keeps it, with the new saga)"
        : action.needs_reason
          ? "Reason (required: this overrides the orchestrator, and the audit trail keeps it)"
          : "Reason (optional; the audit trail keeps it)",
    );
    this.confirm.textContent = `Confirm: ${action.label}`;
    this.form.setAttribute("action", action.url); // what the script posts to, and a plain submit
  }

  // An edited input on a saga that undid its steps: finish compensating, or a new saga.
  offerChoice(action) {
    const fieldset = document.getElementById("dialog-choice");
    const restart = this.data.actions.find((a) => a.name === "restart");
    fieldset.hidden = !restart || !action.edits_input;
    if (fieldset.hidden) return;
    const finish = this.data.actions.find((a) => a.name === "retry_with_input");
    const finishRadio = document.getElementById("choice-finish");
    finishRadio.disabled = !finish;
    finishRadio.checked = action.name === "retry_with_input";
    document.getElementById("choice-new").checked = action.name === "restart";
    text("choice-finish-text", finish ? `${finish.effect}. The saga does not go forward again.` : `${restart.finish}.`);
    text("choice-new-text", `${restart.effect}. Each saga links to the other.`);
  }

  choose(name) {
    const action = this.data.actions.find((a) => a.name === name);
    if (!this.current || !action) return;
    this.current = { action, version: this.current.version };
    this.stale = false;
    document.getElementById("dialog-stale").hidden = true;
    this.showError("");
    this.describe(action);
    this.editor.useUrl(action.diff_url ?? this.data.urls.diff);
    if (!action.new_saga && this.data.version !== this.current.version) this.markStale();
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
      // A new saga: its page is where the operator goes next (this one links to it).
      if (action.new_saga && answer.body.saga) window.location.assign(sagaUrl(answer.body.saga));
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
