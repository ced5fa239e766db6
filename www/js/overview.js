// overview.js: the first view: the queue and the last hour's counts, the
// mail-flow chart, the open alerts and each connector's state at a glance.

import { h, fill, num, dur, badge, code, empty, replyText } from "./dom.js";
import { get } from "./api.js";
import { flowChart, legend } from "./chart.js";
import { connectorStatus } from "./connectors.js";
import { alertCount } from "./insights.js";

function kpi(label, value, kind, sub) {
  return h("div.kpi" + (kind ? "." + kind : ""), null,
    h("div.kpi-label", null, label), h("div.kpi-value", null, value),
    sub ? h("div.kpi-sub", null, sub) : null);
}

// One open insight: its kind and code, what it is (a link to where it
// is explained) and where, how many.
function alertLine(kind, word, c, href, title, ...where) {
  return h("li", null, h("div.alert-tags", null, badge(kind, word), code(c)),
    h("div", null, h("a", { href }, title), h("div.muted.small", null, where)));
}

// Every open insight as one line.
function alertLines(ins) {
  const lines = [];
  for (const a of ins.alerts || [])
    lines.push(alertLine("bad", "Alert", a.code, "#/insights",
      replyText(a.last_error) || "Queue alert", h("strong", null, a.connector),
      ": " + num(a.queued) + " queued, the oldest " + dur(a.oldest_age)));
  for (const l of ins.loops || [])
    lines.push(alertLine("bad", "Loop", l.code, "#/insights", "Mail loop",
      h("strong", null, l.domain), ": " + num(l.messages) + " refused"));
  for (const c of ins.certificates || [])
    lines.push(alertLine(c.state === "expired" ? "bad" : "warn", "Certificate", null,
      "#/insights", c.state === "expired" ? "Certificate expired"
        : "Certificate expires in " + c.days_left + " d",
      h("strong", null, c.host), " (" + c.connector + ")"));
  for (const t of ins.tenants || [])
    lines.push(alertLine("warn", "Quota", t.code, "#/tenants",
      "Tenant over its invalid-recipient quota", h("strong", null, t.tenant),
      ": " + num(t.invalid_recipients) + " of " + num(t.quota) + " invalid recipients"));
  return lines;
}

export function mount(el, params, ctx) {
  const head = h("div.view-head", null, h("h1", null, "Overview"));
  const kpis = h("div.kpis");
  const chart = h("div.chart-box");
  const alerts = h("div");
  const conns = h("div");
  fill(el, head, kpis,
    h("section.card", null,
      h("div.card-head", null, h("h2", null, "Mail flow, last 60 minutes"), legend()), chart),
    h("div.columns", null,
      h("section.card", null, h("div.card-head", null, h("h2", null, "Active alerts"),
        h("a.more", { href: "#/insights" }, "Insights \u2192")), alerts),
      h("section.card", null, h("div.card-head", null, h("h2", null, "Connectors"),
        h("a.more", { href: "#/connectors" }, "All details \u2192")), conns)));

  return {
    async refresh() {
      const [hist, cj] = await Promise.all([get("history"), get("connectors")]);
      const info = ctx.global.info || {};
      const ins = ctx.global.insights || {};
      const mins = hist.minutes || [];
      const sum = (k) => mins.reduce((a, m) => a + (m[k] || 0), 0);
      const last = [...mins].reverse().find((m) => m.queue !== null);
      fill(kpis,
        kpi("Queued now", num(info.queued), "",
          last ? "largest this hour: " + num(Math.max(...mins.map((m) => m.queue || 0))) : null),
        kpi("Delivered", num(sum("delivered")), "ok", "last 60 minutes"),
        kpi("Deferred", num(sum("deferred")), sum("deferred") ? "warn" : "", "last 60 minutes"),
        kpi("Bounced", num(sum("bounced")), sum("bounced") ? "bad" : "", "last 60 minutes"),
        kpi("Received", num(sum("received")), "", "last 60 minutes"));
      fill(chart, flowChart(hist, chart.clientWidth));
      const lines = alertLines(ins);
      fill(alerts, lines.length ? h("ul.alert-list", null, lines)
        : empty("\u2713", "No alerts", "No connector has mail waiting past the alert's age, " +
          "no loop, no certificate to renew, no tenant over quota."));
      fill(conns, h("ul.conn-list", null, (cj.connectors || []).map((c) => {
        const st = connectorStatus(c);
        return h("li", null, h("a", { href: "#/connectors/" + encodeURIComponent(c.name) },
          c.name), badge(st.kind, st.text),
        h("span.muted", null, num(c.queued) + " queued"),
        c.last_error && st.kind !== "ok" ? code(c.last_error.code) : null);
      })));
      ctx.setTitle("Overview", alertCount(ins));
    },
  };
}
