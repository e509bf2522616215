// Times in the reader's time zone, or in UTC: a toggle in the header, remembered in this
// browser (localStorage). Every <time datetime> on a page, rendered by the server (in UTC)
// or added later by a script or a live frame, is written in the chosen zone, with the other
// one on hover (title). Scripts that write times as text use clock() and dateTime() from
// dom.js, which follow the zone too, and redraw on the "sagascope:zone" event.

const KEY = "sagascope.times";
const LOCAL_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "local";

export function zone() {
  try {
    return localStorage.getItem(KEY) === "utc" ? "utc" : "local";
  } catch {
    return "local"; // storage refused (privacy settings): the default, not remembered
  }
}

function setZone(value) {
  try {
    localStorage.setItem(KEY, value);
  } catch {
    // Not remembered; this page still switches.
  }
  refresh();
  document.dispatchEvent(new CustomEvent("sagascope:zone", { detail: value }));
}

// "UTC", or "local" (the zone's name is in the toggle's title).
export function zoneName() {
  return zone() === "utc" ? "UTC" : "local";
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

function parts(date, utc) {
  if (utc) return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()];
  return [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds()];
}

// `format`: "datetime" (2026-01-31 14:05:09), "time" (14:05:09), "minute" (14:05, for an
// axis) or "clock" (14:05:09.123).
export function formatTime(iso, format = "datetime", utc = zone() === "utc") {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const [y, mo, d, h, mi, s, ms] = parts(date, utc);
  const time = `${pad(h)}:${pad(mi)}:${pad(s)}`;
  if (format === "clock") return `${time}.${pad(ms, 3)}`;
  if (format === "time") return time;
  if (format === "minute") return time.slice(0, 5);
  return `${y}-${pad(mo)}-${pad(d)} ${time}`;
}

function otherZone(iso) {
  const utc = zone() !== "utc";
  const full = `${formatTime(iso, "datetime", utc)}.${formatTime(iso, "clock", utc).slice(-3)}`;
  return utc ? `${full} UTC` : `${full} ${LOCAL_ZONE}`;
}

function write(el) {
  const iso = el.getAttribute("datetime");
  if (!iso) return;
  if (!el.dataset.format) el.dataset.format = el.textContent.trim().length <= 12 ? "time" : "datetime";
  el.textContent = formatTime(iso, el.dataset.format);
  el.title = otherZone(iso);
}

function localize(root) {
  if (root.matches?.("time[datetime]")) write(root);
  root.querySelectorAll?.("time[datetime]").forEach(write);
}

function refresh() {
  localize(document.body);
  for (const el of document.querySelectorAll("[data-zone-name]")) el.textContent = zoneName();
  const toggle = document.getElementById("time-zone");
  if (!toggle) return;
  const utc = zone() === "utc";
  toggle.hidden = false;
  toggle.textContent = utc ? "Times: UTC" : "Times: local";
  toggle.title = utc ? `Show times in your time zone (${LOCAL_ZONE})` : `Times are in your time zone (${LOCAL_ZONE}); show them in UTC`;
  toggle.setAttribute("aria-pressed", String(utc));
}

function start() {
  refresh();
  document.getElementById("time-zone")?.addEventListener("click", () => setZone(zone() === "utc" ? "local" : "utc"));
  // Rows and panels that scripts and live frames add later. Writing a <time>'s text adds a
  // text node, not an element, so this never feeds itself.
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) if (node.nodeType === Node.ELEMENT_NODE) localize(node);
  }).observe(document.body, { childList: true, subtree: true });
}

if (typeof document !== "undefined" && document.body) start();
