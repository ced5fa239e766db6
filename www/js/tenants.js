// tenants.js: each tenant's domains and their mode, and its
// invalid-recipient quota as a gauge: the invalid recipients counted in
// the sliding window against the quota, throttled when it is reached.

import { h, fill, num, dur, badge, empty } from "./dom.js";
import { get } from "./api.js";

// The gauge: a bar filled to used/quota, its level in words beside it.
function gauge(used, quota, throttled) {
  if (!quota) return h("div.gauge-box", null, h("p.muted", null,
    num(used) + " invalid recipient" + (used === 1 ? "" : "s") + " in the window; no quota set."));
  const f = Math.min(1, used / quota);
  const kind = throttled || f >= 1 ? "bad" : f >= 0.75 ? "warn" : "ok";
  const bar = h("div.gauge-fill." + kind);
  bar.style.width = (f * 100).toFixed(1) + "%";
  return h("div.gauge-box", null,
    h("div.gauge", { role: "meter", "aria-valuemin": 0, "aria-valuemax": quota,
      "aria-valuenow": Math.min(used, quota),
      "aria-label": "Invalid recipients against the quota" }, bar),
    h("div.gauge-text", null, h("strong", null, num(used)), " of " + num(quota) +
      " invalid recipients (" + Math.round(f * 100) + " %)"));
}

function card(t, window) {
  const mode = (m) => (m.startsWith("authoritative") ? "ok" : "info");
  return h("article.card.tenant", { "data-tenant": t.tenant },
    h("div.card-head", null, h("div.title", null, h("h2", null, t.tenant),
      t.throttled ? badge("bad", "Throttled") : badge("ok", "Within quota"))),
    h("div.tenant-body", null,
      h("div", null, h("h3", null, "Invalid-recipient quota, last " + dur(t.window_seconds || window)),
        gauge(t.invalid_recipients, t.quota, t.throttled),
        t.throttled ? h("p.small", null, "New recipients get 451 4.7.500 until the window " +
          "holds fewer than the quota.") : null),
      h("div", null, h("h3", null, "Domains"),
        h("ul.domains", null, t.domains.map((d) => h("li", null, h("span.domain", null, d.domain),
          badge(mode(d.mode), d.mode.replace(/_/g, " ")))))),
      h("div", null, h("h3", null, "Recipients"),
        h("dl.facts.compact", null,
          h("div", null, h("dt", null, "Accepted"), h("dd", null, num(t.recipients_in))),
          h("div", null, h("dt", null, "Delivered"), h("dd", null, num(t.recipients_delivered)))))));
}

export function mount(el, params, ctx) {
  const list = h("div.cards");
  const foot = h("p.muted.small");
  fill(el, h("div.view-head", null, h("h1", null, "Tenants"),
    h("p.lede", null, "Recipients refused at RCPT for an authoritative domain, or answered " +
      "5.1.x by the destination, count against their tenant's quota in a sliding window.")),
  list, foot);
  return {
    async refresh() {
      const tj = await get("tenants");
      const ts = tj.tenants || [];
      fill(list, ts.length ? ts.map((t) => card(t, tj.window_seconds))
        : h("section.card", null, empty("\u2013", "No tenants",
          "The configuration has no tenants: add a tenants: section to count invalid " +
          "recipients per customer.")));
      fill(foot, "Counting: " + tj.cluster + (tj.cluster_error ? " (" + tj.cluster_error + ")" : ""));
      ctx.setTitle("Tenants");
    },
  };
}
