// The "retry with edited input" editor: a textarea with the saga's input as JSON and, while
// the operator types, the diff against the current input and what the server's validation
// says of it. The server computes both (the service layer's own diff and validators), so
// the preview cannot disagree with what the action will store.

import { countChanges, diffRows } from "./diff.js";
import { fill, pretty } from "./dom.js";
import { csrfToken, postForm } from "./http.js";

const PAUSE_MS = 250; // typing pauses this long before the server is asked

export class InputEditor {
  constructor({ onChange }) {
    this.textarea = document.getElementById("dialog-input");
    this.status = document.getElementById("dialog-input-status");
    this.table = document.getElementById("dialog-diff");
    this.onChange = onChange;
    this.url = "";
    this.timer = null;
    this.asked = 0; // answers to older questions are dropped
    this.verdict = null; // {ok, text}: what the server said of `text`
    this.textarea.addEventListener("input", () => this.schedule());
  }

  start(input, url, { keepText = false } = {}) {
    this.url = url;
    this.textarea.disabled = false;
    if (!keepText) this.textarea.value = pretty(input);
    this.check();
  }

  // Check the same text against another endpoint (the other choice of the dialog).
  useUrl(url) {
    if (url === this.url) return;
    this.url = url;
    this.verdict = null;
    this.onChange();
    this.check();
  }

  stop() {
    clearTimeout(this.timer);
    this.asked += 1;
    this.textarea.disabled = true; // a disabled field is not posted with other actions
  }

  ready() {
    return Boolean(this.verdict?.ok && this.verdict.text === this.textarea.value);
  }

  schedule() {
    clearTimeout(this.timer);
    this.verdict = null;
    this.say("Checking…", "");
    this.onChange();
    this.timer = setTimeout(() => this.check(), PAUSE_MS);
  }

  async check() {
    const asked = ++this.asked;
    const value = this.textarea.value;
    const form = new FormData();
    form.append("csrfmiddlewaretoken", csrfToken());
    form.append("input", value);
    const answer = await postForm(this.url, form);
    if (asked !== this.asked) return;
    if (!answer.ok) {
      this.verdict = { ok: false, text: value };
      this.table.hidden = true;
      this.say(answer.detail, "bad");
    } else {
      const { changes, problem } = answer.body;
      fill(this.table.querySelector("tbody"), diffRows(changes));
      this.table.hidden = changes.length === 0;
      this.verdict = { ok: !problem, text: value };
      const said = changes.length ? `${countChanges(changes)} against the current input, listed below.` : "The same input as this saga's.";
      this.say(problem || said, problem ? "bad" : "ok");
    }
    this.onChange();
  }

  say(message, tone) {
    this.status.textContent = message;
    this.status.dataset.tone = tone;
  }
}
