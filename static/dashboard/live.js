// A websocket that reconnects by itself and, on reconnect, asks for what it missed: the
// events after the last id it saw. The status in the header says which state it is in.
//
// A socket refused at the handshake (the server refuses a session that has ended, e.g.
// after a logout elsewhere or a password change) gives the browser only "closed" (1006),
// as a server that is down does. So after a connection that never opened, the page asks
// /session/ whether its session still admits it: 401 means it ended, and retrying cannot
// help; no answer means the server is away, and retrying will.

import { fill, h } from "./dom.js";

// Close codes after which reconnecting cannot help (dashboard/live/consumer.py).
const FINAL = {
  4400: "refused: bad address",
  4404: "nothing to watch here",
  4429: "too many live pages open: close one, then reload",
};
const SESSION_ENDED = 4403; // closed by the server: logged out, or no longer staff
const SESSION_URL = "/session/";

export function loginUrl() {
  // Back to this very page after logging in (Django's LoginView reads ?next=).
  return `/login/?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export class LiveSocket {
  constructor(path, { params = "", lastEventId = null, onFrame }) {
    this.path = path;
    this.params = params;
    this.lastEventId = lastEventId;
    this.onFrame = onFrame;
    this.delay = 500;
    this.reconnects = 0;
    this.status = document.getElementById("live-status");
    this.stopped = false;
    this.connect();
    this.pinger = setInterval(() => this.send({ type: "ping" }), 30000);
  }

  url() {
    const query = new URLSearchParams(this.params);
    if (this.lastEventId !== null) query.set("after", String(this.lastEventId));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const qs = query.toString();
    return `${scheme}//${location.host}${this.path}${qs ? "?" + qs : ""}`;
  }

  connect() {
    if (this.stopped) return;
    this.show("connecting", this.reconnects ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    this.opened = false;
    socket.addEventListener("open", () => {
      this.opened = true;
      this.delay = 500;
      this.show("catching-up", "catching up…");
    });
    socket.addEventListener("message", (message) => this.receive(message));
    socket.addEventListener("close", (event) => this.closed(event));
  }

  receive(message) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === "error") {
      this.show("error", `live error: ${frame.error}`);
      if (this.onFrame) this.onFrame(frame);
      return;
    }
    if (typeof frame.last_event_id === "number") {
      this.lastEventId = Math.max(this.lastEventId ?? 0, frame.last_event_id);
    }
    if (this.onFrame) this.onFrame(frame);
    if (["snapshot", "overview", "outbox", "problems"].includes(frame.type)) {
      if (frame.behind) {
        this.show("catching-up", "too far behind: reloading…");
        location.reload();
        return;
      }
      this.show("live", this.reconnects ? "live · caught up" : "live");
    }
  }

  closed(event) {
    if (this.socket === undefined || this.stopped) return;
    if (event.code === SESSION_ENDED) {
      this.sessionEnded();
      return;
    }
    if (FINAL[event.code]) {
      this.stop();
      this.show("closed", FINAL[event.code]);
      return;
    }
    if (this.opened) {
      this.retry(); // it was up: most likely a restart or a network blip
      return;
    }
    this.show("connecting", "checking the session…");
    this.sessionAlive().then((alive) => (alive ? this.retry() : this.sessionEnded()));
  }

  async sessionAlive() {
    // Only a clear "no" ends the page: a server that is down or failing may well come back.
    try {
      const response = await fetch(SESSION_URL, { credentials: "same-origin", cache: "no-store" });
      return response.status !== 401;
    } catch {
      return true;
    }
  }

  retry() {
    this.reconnects += 1;
    const wait = Math.min(this.delay, 10000) * (0.75 + Math.random() / 2);
    this.delay = Math.min(this.delay * 2, 10000);
    this.show("disconnected", `disconnected · reconnecting in ${Math.ceil(wait / 1000)} s`);
    setTimeout(() => this.connect(), wait);
  }

  sessionEnded() {
    this.stop();
    this.show("closed", "your session ended: ", h("a", { href: loginUrl(), id: "live-login" }, "log in again"));
    if (this.status) this.status.dataset.reason = "session";
  }

  stop() {
    this.stopped = true;
    clearInterval(this.pinger);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
    }
  }

  show(state, ...label) {
    if (!this.status) return;
    this.status.dataset.state = state;
    this.status.dataset.reconnects = String(this.reconnects);
    fill(this.status, ...label);
  }
}
