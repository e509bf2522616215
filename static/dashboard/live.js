// A websocket that reconnects by itself and, on reconnect, asks for what it missed: the
// events after the last id it saw. The status in the header says which state it is in.

// Close codes after which reconnecting cannot help (dashboard/live/consumer.py).
const FINAL = {
  4400: "refused: bad address",
  4403: "not logged in as staff: log in again",
  4404: "nothing to watch here",
  4429: "too many live pages open: close one, then reload",
};

export class LiveSocket {
  constructor(path, { params = "", lastEventId = null, onFrame }) {
    this.path = path;
    this.params = params;
    this.lastEventId = lastEventId;
    this.onFrame = onFrame;
    this.delay = 500;
    this.reconnects = 0;
    this.status = document.getElementById("live-status");
    this.connect();
    setInterval(() => this.send({ type: "ping" }), 30000);
  }

  url() {
    const query = new URLSearchParams(this.params);
    if (this.lastEventId !== null) query.set("after", String(this.lastEventId));
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const qs = query.toString();
    return `${scheme}//${location.host}${this.path}${qs ? "?" + qs : ""}`;
  }

  connect() {
    this.show("connecting", this.reconnects ? "reconnecting…" : "connecting…");
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.addEventListener("open", () => {
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
    if (this.socket === undefined) return;
    if (FINAL[event.code]) {
      this.show("closed", FINAL[event.code]);
      return;
    }
    this.reconnects += 1;
    const wait = Math.min(this.delay, 10000) * (0.75 + Math.random() / 2);
    this.delay = Math.min(this.delay * 2, 10000);
    this.show("disconnected", `disconnected · reconnecting in ${Math.ceil(wait / 1000)} s`);
    setTimeout(() => this.connect(), wait);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
    }
  }

  show(state, label) {
    if (!this.status) return;
    this.status.dataset.state = state;
    this.status.dataset.reconnects = String(this.reconnects);
    this.status.textContent = label;
  }
}
