// chart.js: the overview's two charts, drawn as SVG from /api/v1/history:
// delivered, deferred and bounced per minute as stacked bars, and the
// queue size as a line under them, on one time axis (the last 60 minutes,
// the current one last).
//
// The three series differ by colour and by fill (solid, stripes, dots)
// and the legend names them, so the chart reads without colour too.  A
// minute under the pointer (or the keyboard) is written out in words
// above the chart; each minute's <title> says the same to a screen reader.

import { h, s, fill, num, clock } from "./dom.js";

const LEFT = 44, RIGHT = 10;	// room for the y labels
export const SERIES = [
  { key: "delivered", label: "Delivered", fill: "url(#fill-delivered)", cls: "delivered" },
  { key: "deferred", label: "Deferred", fill: "url(#fill-deferred)", cls: "deferred" },
  { key: "bounced", label: "Bounced", fill: "url(#fill-bounced)", cls: "bounced" },
];

// A round upper bound for the y axis and its step: 1, 2 or 5 times a
// power of ten, at least 4.
function scale(max) {
  max = Math.max(max, 4);
  const raw = max / 4;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * p).find((x) => x >= raw);
  return { top: Math.ceil(max / step) * step, step };
}

// The fills of the bars (also used by the legend's swatches).
function defs() {
  const pat = (id, cls, shape) => s("pattern", { id, patternUnits: "userSpaceOnUse",
    width: 6, height: 6 }, s("rect", { width: 6, height: 6, class: cls }), shape);
  return s("defs", null,
    pat("fill-delivered", "sw-delivered", null),
    pat("fill-deferred", "sw-deferred",
      s("path", { d: "M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2", class: "hatch" })),
    pat("fill-bounced", "sw-bounced", s("circle", { cx: 3, cy: 3, r: 1.3, class: "dot" })));
}

function slotText(m) {
  const parts = SERIES.map((se) => num(m[se.key]) + " " + se.label.toLowerCase());
  return clock(m.time, false) + ": " + parts.join(", ") + ", " + num(m.received) +
    " received" + (m.queue === null ? "" : ", " + num(m.queue) + " in the queue");
}

// The legend: a swatch and a name per series, then the queue line.
export function legend() {
  return h("ul.legend", null,
    SERIES.map((se) => h("li", null,
      s("svg", { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true" },
        s("rect", { width: 14, height: 14, rx: 2, fill: se.fill, class: "swatch " + se.cls })),
      se.label)),
    h("li", null, s("svg", { width: 18, height: 14, viewBox: "0 0 18 14", "aria-hidden": "true" },
      s("path", { d: "M1,10 L7,5 L11,8 L17,2", class: "queue-line" })), "Queue size"));
}

// The time labels: every 15 minutes, and "now".
function xLabels(mins, x, y) {
  const out = [];
  mins.forEach((m, i) => {
    if (i === mins.length - 1) {
      out.push(s("text", { x: x(i) + x.slot, y, class: "axis", "text-anchor": "end" }, "now"));
    } else if (i % (x.slot < 8 ? 30 : 15) === 0) {
      out.push(s("text", { x: x(i), y, class: "axis" }, clock(m.time, false)));
    }
  });
  return out;
}

// The flow chart and the queue chart of history, with a readout line,
// drawn for a box width pixels wide (so that its text keeps its size in a
// narrow window).  Returns one element.
export function flowChart(history, width) {
  const W = Math.max(300, Math.round(width || 960));
  const mins = history && history.minutes ? history.minutes : [];
  const n = mins.length || 60;
  const plotW = W - LEFT - RIGHT;
  const x = (i) => LEFT + (i * plotW) / n;
  x.slot = plotW / n;

  // --- the bars ---
  const H = 230, TOP = 10, BOTTOM = 24, plotH = H - TOP - BOTTOM;
  const max = Math.max(0, ...mins.map((m) => m.delivered + m.deferred + m.bounced));
  const { top, step } = scale(max);
  const y = (v) => TOP + plotH - (v * plotH) / top;
  const grid = [];
  for (let v = 0; v <= top; v += step) {
    grid.push(s("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: v ? "grid" : "base" }));
    grid.push(s("text", { x: LEFT - 8, y: y(v) + 4, class: "axis", "text-anchor": "end" }, num(v)));
  }
  const bars = [], hits = [];
  const readout = h("p.readout", { "aria-live": "off" });
  const total = (k) => mins.reduce((a, m) => a + (m[k] || 0), 0);
  const idle = () => {
    fill(readout, h("span.muted", null, "Last 60 minutes: "),
      SERIES.map((se, j) => [j ? ", " : "", h("strong", null, num(total(se.key))), " " +
        se.label.toLowerCase()]),
      h("span.muted", null, " \u00B7 point at a minute for its numbers"));
  };
  idle();
  const bw = Math.max(2, x.slot * 0.7);
  mins.forEach((m, i) => {
    let base = 0;
    for (const se of SERIES) {
      const v = m[se.key] || 0;
      if (v > 0) {
        bars.push(s("rect", { x: x(i) + (x.slot - bw) / 2, y: y(base + v), width: bw,
          height: Math.max(1, y(base) - y(base + v)), fill: se.fill, class: "bar " + se.cls }));
      }
      base += v;
    }
    const hit = s("rect", { x: x(i), y: TOP, width: x.slot, height: plotH, class: "hit",
      tabindex: -1 }, s("title", null, slotText(m)));
    const show = () => {
      hits.forEach((r) => r.classList.remove("on"));
      hit.classList.add("on");
      fill(readout, h("strong", null, clock(m.time, false)), " \u00B7 ",
        SERIES.map((se, j) => [j ? ", " : "", h("strong", null, num(m[se.key])), " " +
          se.label.toLowerCase()]), ", " + num(m.received) + " received",
        m.queue === null ? "" : ", " + num(m.queue) + " queued");
    };
    hit.addEventListener("mouseenter", show);
    hit.addEventListener("focus", show);
    hits.push(hit);
  });
  const flow = s("svg", { viewBox: "0 0 " + W + " " + H, class: "chart flow", role: "img",
    "aria-label": "Messages per minute over the last hour: " + total("delivered") +
      " delivered, " + total("deferred") + " deferred, " + total("bounced") + " bounced",
    preserveAspectRatio: "xMidYMid meet" },
  defs(), grid, bars, xLabels(mins, x, H - 6), hits);
  flow.addEventListener("mouseleave", () => {
    hits.forEach((r) => r.classList.remove("on"));
    idle();
  });

  // --- the queue line ---
  const QH = 96, QTOP = 8, QBOTTOM = 8, qH = QH - QTOP - QBOTTOM;
  const qmax = scale(Math.max(0, ...mins.map((m) => m.queue || 0)));
  const qy = (v) => QTOP + qH - (v * qH) / qmax.top;
  let d = "", area = "", run = [];
  const flush = () => {
    if (run.length) {
      d += "M" + run.map((p) => p.join(",")).join(" L");
      area += "M" + run[0][0] + "," + qy(0) + " L" + run.map((p) => p.join(",")).join(" L") +
        " L" + run[run.length - 1][0] + "," + qy(0) + " Z";
    }
    run = [];
  };
  mins.forEach((m, i) => {
    if (m.queue === null || m.queue === undefined) flush();
    else run.push([(x(i) + x.slot / 2).toFixed(1), qy(m.queue).toFixed(1)]);
  });
  flush();
  const last = [...mins].reverse().find((m) => m.queue !== null && m.queue !== undefined);
  const queue = s("svg", { viewBox: "0 0 " + W + " " + QH, class: "chart queue", role: "img",
    "aria-label": "Queue size over the last hour" + (last ? ", now " + last.queue : "") },
  s("line", { x1: LEFT, x2: W - RIGHT, y1: qy(0), y2: qy(0), class: "base" }),
  s("line", { x1: LEFT, x2: W - RIGHT, y1: qy(qmax.top), y2: qy(qmax.top), class: "grid" }),
  s("text", { x: LEFT - 8, y: qy(qmax.top) + 4, class: "axis", "text-anchor": "end" }, num(qmax.top)),
  s("text", { x: LEFT - 8, y: qy(0) + 4, class: "axis", "text-anchor": "end" }, "0"),
  s("path", { d: area, class: "queue-area" }), s("path", { d, class: "queue-line" }));

  return h("div.charts", null, readout, flow, h("p.chart-label", null, "Queue size"), queue);
}
