// Building DOM from data. Every string goes in as a text node or an attribute value, never
// as markup: saga input, errors and names are shown as the text they are.

import { formatTime } from "./times.js";

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name === "style") Object.assign(el.style, value);
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function text(id, value) {
  const el = document.getElementById(id);
  if (el) el.textContent = value === null || value === undefined ? "" : String(value);
  return el;
}

export function readData(id) {
  const el = document.getElementById(id);
  return el ? JSON.parse(el.textContent) : null;
}

export function pretty(value) {
  return JSON.stringify(value, null, 2);
}

export function sagaUrl(id) {
  return `/sagas/${encodeURIComponent(id)}/`;
}

// Times as text, in the zone the reader chose (times.js): "14:05:09.123" and
// "2026-01-31 14:05:09". A time shown on its own is better a timeEl(): the toggle rewrites it.
export function clock(iso) {
  return formatTime(iso, "clock");
}

export function dateTime(iso) {
  return formatTime(iso, "datetime");
}

export function timeEl(iso, format = "datetime") {
  return h("time", { datetime: iso, dataset: { format } }, formatTime(iso, format));
}

export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60000);
  return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

// The server's clock minus this browser's, so "now" on a timeline is the database's now.
let offset = 0;
export function syncClock(serverIso) {
  if (serverIso) offset = Date.parse(serverIso) - Date.now();
}
export function serverNow() {
  return Date.now() + offset;
}
