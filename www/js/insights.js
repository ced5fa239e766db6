// insights.js: what needs a person, one card per code: queue alerts
// grouped by their mail-flow-intelligence code with the connectors and
// domains they affect, what happened, the fix, who acts and, for the
// domains fix-now can help, a "Fix now" button behind a confirmation;
// then mail loops, certificates to renew and tenants over their quota.

import { h, fill, num, dur, badge, code, when, empty, replyText, hostIp } from "./dom.js";
import { act, button } from "./actions.js";
import { confirmAction } from "./dialogs.js";

export function alertCount(ins) {
  if (!ins) return 0;
  return ["alerts", "loops", "certificates", "tenants"]
    .reduce((n, k) => n + (ins[k] ? ins[k].length : 0), 0);
}

// A text as a sentence: its first letter a capital.
function sentence(t) {
  return t ? t.charAt(0).toUpperCase() + t.slice(1) : t;
}

function advice(meaning, fix, who) {
  return [h("div.advice-grid", null,
    meaning ? h("div.advice", null, h("h3", null, "What happened"), h("p", null, sentence(meaning)))
      : null,
    fix ? h("div.advice", null, h("h3", null, "How to fix"), h("p", null, sentence(fix))) : null),
  who ? h("p.who", null, h("span.muted", null, "Who should act: "), who) : null];
}

// A table; the columns whose index is in nums hold numbers (right-aligned).
function table(heads, rows, nums = []) {
  return h("div.table-wrap", null, h("table.table", null,
    h("thead", null, h("tr", null, heads.map((t, i) =>
      h("th" + (nums.includes(i) ? ".num" : ""), { scope: "col" }, t)))),
    h("tbody", null, rows)));
}

async function fixNow(domain) {
  const yes = await confirmAction("Fix now: make " + domain + " authoritative?", [
    "From now on, recipients of " + domain + " that are not in its tenant's directory are " +
    "refused at RCPT with 550 5.1.10 Recipient not found.",
    "Mail already queued for recipients the directory does not know is returned to its " +
    "senders now, with a non-delivery report, instead of waiting out the retry period. " +
    "Mail for known recipients stays queued.",
    "The switch is written to the state file and stays in force after a restart.",
  ], "Make it authoritative", true);
  if (!yes) return;
  await act("fix-now/" + encodeURIComponent(domain), {},
    (r) => domain + " is now " + r.mode + "; " + num(r.returned) + " queued recipient" +
      (r.returned === 1 ? "" : "s") + " returned");
}

// The queue alerts of one code as a card.
function alertCard(codeName, list, settings) {
  const a0 = list[0];
  const domains = [...new Set(list.flatMap((a) => a.fix_now || []))];
  const title = codeName === "-" ? "Mail waiting, no attempt finished yet"
    : replyText(a0.last_error) || a0.mfi;
  const queued = list.reduce((n, a) => n + a.queued, 0);
  return h("article.card.insight", { "data-code": codeName },
    h("div.card-head", null, h("div.title", null, badge("bad", "Alert"), code(codeName),
      h("h2", null, title)),
    h("span.muted.small", null, "since ", when(list.map((a) => a.since).sort()[0]))),
    h("p.summary", null, list.length + " connector" + (list.length === 1 ? "" : "s") + " with " +
      num(queued) + " message" + (queued === 1 ? "" : "s") + " queued. An alert is raised when " +
      num(settings.alert_threshold) + (settings.alert_threshold === 1 ? " message waits" :
      " messages wait") + " longer than " + dur(settings.alert_age) + " at one connector."),
    advice(a0.meaning, a0.fix, a0.who),
    h("h3", null, "Affected connectors"),
    table(["Connector", "Destination", "Queued", "Past the alert age", "Oldest", "Last error"],
      list.map((a) => h("tr", null,
        h("td", null, h("a", { href: "#/connectors/" + encodeURIComponent(a.connector) },
          a.connector)),
        h("td", null, a.destination ? hostIp(a.destination).host : "\u2013",
          a.destination && hostIp(a.destination).ip ?
            h("span.muted", null, " [" + hostIp(a.destination).ip + "]") : null),
        h("td.num", null, num(a.queued)), h("td.num", null, num(a.messages_over_age)),
        h("td", null, dur(a.oldest_age)), h("td", null, a.last_error || "\u2013"))), [2, 3]),
    domains.length ? h("div.fixnow", null,
      h("h3", null, "Fix now"),
      h("p", null, "These domains belong to a tenant with a directory. If their server was " +
        "retired or will stay unreachable, making them authoritative returns the mail for " +
        "unknown recipients now and refuses new ones at once."),
      h("ul.fixnow-list", null, domains.map((d) => h("li", null, h("strong", null, d),
        button("Fix now", () => fixNow(d), "danger",
          { "data-action": "fix-now", "data-domain": d }))))) : null);
}

function loopCard(loops) {
  const l0 = loops[0];
  return h("article.card.insight", { "data-code": "5.4.6" },
    h("div.card-head", null, h("div.title", null, badge("bad", "Loop"), code("5.4.6"),
      h("h2", null, l0.insight || "Mail loop"))),
    advice(l0.meaning, null, null),
    table(["Domain", "Connector", "Routes to", "Refused", "Hops (limit)", "First", "Last"],
      loops.map((l) => h("tr", null, h("td", null, h("strong", null, l.domain)),
        h("td", null, l.connector), h("td", null, l.route || "\u2013"),
        h("td.num", null, num(l.messages)), h("td.num", null, l.hops + " (" + l.limit + ")"),
        h("td", null, when(l.first)), h("td", null, when(l.last)))), [3, 4]),
    loops.map((l) => h("div.advice", null, h("h3", null, "How to fix (" + l.domain + ")"),
      h("p", null, l.fix))));
}

function certCard(certs) {
  const kind = (c) => (c.state === "expired" || c.state === "not_yet_valid" ? "bad" : "warn");
  return h("article.card.insight", { "data-code": "certificates" },
    h("div.card-head", null, h("div.title", null,
      badge(certs.some((c) => kind(c) === "bad") ? "bad" : "warn", "Certificates"),
      h("h2", null, "Certificates to renew"))),
    table(["Connector", "Host", "Subject", "State", "Not after", "Left", "TLS"],
      certs.map((c) => h("tr", null, h("td", null, c.connector), h("td", null, c.host),
        h("td", null, c.subject || "\u2013"), h("td", null, badge(kind(c), c.state.replace(/_/g, " "))),
        h("td", null, c.not_after), h("td.num", null, c.days_left + " d"), h("td", null, c.tls))), [5]),
    certs.map((c) => [h("h3", null, c.host + " (" + c.connector + ")"),
      advice(c.meaning, c.fix, c.who)]));
}

function tenantCard(ts) {
  return h("article.card.insight", { "data-code": "4.7.500" },
    h("div.card-head", null, h("div.title", null, badge("warn", "Quota"), code("4.7.500"),
      h("h2", null, "Tenants over their invalid-recipient quota"))),
    table(["Tenant", "Invalid recipients", "Quota"],
      ts.map((t) => h("tr", null, h("td", null, h("a", { href: "#/tenants" }, t.tenant)),
        h("td.num", null, num(t.invalid_recipients)), h("td.num", null, num(t.quota)))), [1, 2]),
    advice("New recipients of " + (ts.length === 1 ? "this tenant" : "these tenants") +
      " are deferred with 451 4.7.500 while the window holds as many invalid recipients as " +
      "the quota, or more.", ts[0].fix, null));
}

export function mount(el, params, ctx) {
  const list = h("div.cards");
  fill(el, h("div.view-head", null, h("h1", null, "Insights"),
    h("p.lede", null, "What needs attention, with what happened and how to fix it. " +
      "Insights clear by themselves when the condition ends.")), list);
  return {
    async refresh() {
      const ins = ctx.global.insights || {};
      const groups = new Map();
      for (const a of ins.alerts || []) {
        const k = a.code || "-";
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k).push(a);
      }
      const cards = [...groups].map(([k, l]) => alertCard(k, l, ins.settings || {}));
      if (ins.loops && ins.loops.length) cards.push(loopCard(ins.loops));
      if (ins.certificates && ins.certificates.length) cards.push(certCard(ins.certificates));
      if (ins.tenants && ins.tenants.length) cards.push(tenantCard(ins.tenants));
      fill(list, cards.length ? cards : h("section.card", null, empty("\u2713", "Nothing to fix",
        "No queue alert (" + num((ins.settings || {}).alert_threshold) + " messages older than " +
        dur((ins.settings || {}).alert_age) + " at one connector), no mail loop, no " +
        "certificate to renew, no tenant over its quota.")));
      ctx.setTitle("Insights", alertCount(ins));
    },
  };
}
