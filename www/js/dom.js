// dom.js: building the page's elements and formatting what the API says.
//
// Every value from the relay (addresses, replies, host names) reaches the
// page as text through h() and never as markup: nothing here touches
// innerHTML.  The listener's Content-Security-Policy (default-src 'self')
// forbids inline scripts and style attributes, so sizes set at run time
// go through the CSSOM (el.style), which it allows.

const SVG_NS = "http://www.w3.org/2000/svg";

// h("div.card", {title: "x", onclick: f}, child, "text", [more]) -> Element.
// An id ("input#token") and classes (".a.b") may follow the tag;
// attributes whose value is null, undefined or false are left out; on*
// keys add listeners.
export function h(spec, attrs, ...kids) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}

// The same for SVG elements (the chart, the icons).
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs);
  append(el, kids);
  return el;
}

function setAttrs(el, attrs) {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

function append(el, kids) {
  for (const k of kids.flat(Infinity)) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

// Replace el's children with kids.
export function fill(el, ...kids) {
  el.replaceChildren();
  append(el, kids);
  return el;
}

// ---- status: a colour, an icon and a word, never the colour alone ----

// kind: ok, warn, bad, off (disabled, idle) or info.
const ICONS = { ok: "\u2713", warn: "\u25B2", bad: "\u2715", off: "\u2013", info: "\u2022" };

export function badge(kind, text, title) {
  return h("span.badge." + kind, { title },
    h("span.icon", { "aria-hidden": "true" }, ICONS[kind] || ""), " ", text);
}

// A mail-flow-intelligence code as a chip ("4.4.316").
export function code(c, title) {
  return c && c !== "-" ? h("code.chip", { title }, c) : null;
}

// ---- numbers and times ----

export function num(n) {
  return n === null || n === undefined ? "\u2013" : Number(n).toLocaleString("en-US");
}

// Seconds as "45 s", "12 min", "3 h 5 min", "2 d 4 h".
export function dur(sec) {
  if (sec === null || sec === undefined) return "\u2013";
  const neg = sec < 0;
  let t = Math.abs(Math.round(sec));
  let out;
  if (t < 60) out = t + " s";
  else if (t < 3600) out = Math.floor(t / 60) + " min";
  else if (t < 86400) {
    const m = Math.floor((t % 3600) / 60);
    out = Math.floor(t / 3600) + " h" + (m ? " " + m + " min" : "");
  } else {
    const hr = Math.floor((t % 86400) / 3600);
    out = Math.floor(t / 86400) + " d" + (hr ? " " + hr + " h" : "");
  }
  return neg ? "-" + out : out;
}

function pad(n) { return String(n).padStart(2, "0"); }

// An ISO time ("2026-12-06T19:39:59Z", or with milliseconds) or unix
// seconds as local "19:39:59", with the date when it is not today.
export function clock(t, withSeconds = true) {
  if (t === null || t === undefined || t === "") return "\u2013";
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  if (isNaN(d)) return String(t);
  const time = pad(d.getHours()) + ":" + pad(d.getMinutes()) +
    (withSeconds ? ":" + pad(d.getSeconds()) : "");
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return time;
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time;
}

// A time element: the local clock, the full ISO time on hover.
export function when(t) {
  if (t === null || t === undefined) return h("span.muted", null, "\u2013");
  return h("time", { datetime: t, title: t }, clock(t));
}

// "3 min ago" / "in 23 h" of an age in seconds (positive: in the past).
export function ago(sec) {
  if (sec === null || sec === undefined) return "\u2013";
  return sec >= 0 ? dur(sec) + " ago" : "in " + dur(-sec);
}

// A reply without its leading code: "450 4.4.316 Connection refused" ->
// "Connection refused".
export function replyText(r) {
  return String(r || "").replace(/^\d{3}[ -](\d\.\d{1,3}\.\d{1,3} )?/, "");
}

// "mx.example [192.0.2.1]" -> {host, ip}.
export function hostIp(dest) {
  const m = /^(.*) \[([^\]]*)\]$/.exec(dest || "");
  return m ? { host: m[1], ip: m[2] } : { host: dest || "", ip: "" };
}

// A definition list from [label, value] pairs (null values left out).
export function facts(pairs, cls = "") {
  return h("dl.facts" + (cls ? "." + cls : ""), null,
    pairs.filter((p) => p && p[1] !== null && p[1] !== undefined).map(([k, v]) =>
      h("div", null, h("dt", null, k), h("dd", null, v))));
}

// An empty-state panel: a tick (all is well) or another sign (nothing there).
export function empty(icon, title, text) {
  const kind = icon === "\u2713" ? "" : ".off";
  return h("div.empty", null, h("div.empty-icon" + kind, { "aria-hidden": "true" }, icon),
    h("p.empty-title", null, title), text ? h("p.muted", null, text) : null);
}
