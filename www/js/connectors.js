// connectors.js: one card per connector with the fields of Exchange
// Online's queue flyout (state, queued, the oldest message and when it
// expires, destination, last IP, last error with its code, meaning and
// fix) and its actions: Validate (each step, the failed one marked),
// Retry now, Disable/Enable.

import { h, fill, num, ago, badge, code, when, clock, facts, hostIp, empty } from "./dom.js";
import { get } from "./api.js";
import { act, button, selectionText } from "./actions.js";
import { askValidate, confirmAction } from "./dialogs.js";

// The last validation of each connector, kept across refreshes.
const validations = new Map();

// One word for a connector's state: {kind, text} for badge().
export function connectorStatus(c) {
  if (c.state === "removed") return { kind: "off", text: "Removed" };
  if (String(c.state).startsWith("disabled"))
    return { kind: "off", text: c.state === "disabled" ? "Disabled" : "Disabled in config" };
  if (c.health === "down") return { kind: "bad", text: "Down" };
  if (/down/.test(c.health)) return { kind: "bad", text: c.health };
  const le = c.last_error;
  if (le && c.queued > 0 && (!c.last_attempt || le.time >= c.last_attempt))
    return { kind: "warn", text: "Deferring" };
  if (!c.attempts && !c.queued) return { kind: "off", text: "Idle" };
  return { kind: "ok", text: "Healthy" };
}

function stat(label, value, sub) {
  return h("div.stat", null, h("div.stat-label", null, label), h("div.stat-value", null, value),
    sub ? h("div.stat-sub", null, sub) : null);
}

function lastError(le) {
  if (!le) return h("div.last-error.none", null, h("h3", null, "Last error"),
    h("p.muted", null, badge("ok", "None"), " since sluiced started"));
  return h("div.last-error", null,
    h("h3", null, "Last error ", code(le.code), h("span.muted.small", null, " ", when(le.time))),
    h("p.reply", null, le.text),
    le.meaning ? h("div.advice", null, h("h4", null, "What happened"), h("p", null, le.meaning)) : null,
    le.fix ? h("div.advice", null, h("h4", null, "How to fix"), h("p", null, le.fix)) : null,
    le.who ? h("p.who", null, h("span.muted", null, "Who acts: "), le.who) : null);
}

function validation(v) {
  if (!v) return null;
  if (v.error) return h("div.validation", null, h("h3", null, "Validation"),
    h("p.form-error", null, v.error));
  const r = v.result;
  const ok = !r.step && !r.code;
  return h("div.validation", { "data-step": r.step || "" },
    h("div.validation-head", null, h("h3", null, "Validation"),
      ok ? badge("ok", "Passed") : badge("bad", "Failed at " + r.step),
      h("span.muted.small", null, " ", clock(v.at.getTime() / 1000),
        r.send ? " \u00B7 with a test message" : "")),
    h("ol.steps", null, (r.steps || []).map((st) =>
      h("li.step." + (st.result === "ok" ? "ok" : "bad"), null,
        h("span.icon", { "aria-hidden": "true" }, st.result === "ok" ? "\u2713" : "\u2715"),
        h("span.step-name", null, st.step),
        h("span.step-result", null, st.result === "ok" ? "ok" : "failed"),
        h("span.step-detail", null, st.detail)))),
    h("p.verdict", null, code(r.code), " ", r.verdict));
}

async function validate(c) {
  const opts = await askValidate(c.name);
  if (!opts) return;
  const body = opts.rcpt ? { rcpt: opts.rcpt, send: opts.send } : {};
  const res = await act("connectors/" + encodeURIComponent(c.name) + "/validate", body,
    (r) => (!r.step && !r.code ? "Validation of " + c.name + " passed"
      : ["Validation of " + c.name + " failed at " + r.step, "warn"]));
  if (res) validations.set(c.name, { at: new Date(), result: res });
}

function actions(c) {
  const enabled = c.enabled;
  const out = [button("Validate\u2026", () => validate(c), "", { "data-action": "validate" })];
  if (c.queued > 0)
    out.push(button("Retry now", () => act("flush", { connector: c.name },
      (r) => selectionText("Retried", r) + " at " + c.name), "", { "data-action": "flush" }));
  if (c.state === "enabled" || c.state === "disabled")
    out.push(button(enabled ? "Disable" : "Enable", async () => {
      if (enabled) {
        const yes = await confirmAction("Disable connector " + c.name + "?", [
          "Its mail stays queued and nothing is delivered through it until it is enabled "
          + "again. Retries go on counting towards the expiry (messages still return to "
          + "their senders after it)."], "Disable");
        if (!yes) return;
      }
      await act("connectors/" + encodeURIComponent(c.name) + "/" + (enabled ? "disable" : "enable"),
        {}, (r) => "Connector " + r.connector + " is " + r.state);
    }, "", { "data-action": enabled ? "disable" : "enable" }));
  return out;
}

function card(c, focused) {
  const st = connectorStatus(c);
  const le = c.last_error;
  const dest = le ? hostIp(le.destination) : null;
  return h("article.card.connector" + (focused ? ".focused" : ""),
    { id: "conn-" + c.name, "data-connector": c.name },
    h("div.card-head", null,
      h("div.title", null, h("h2", null, c.name), badge(st.kind, st.text)),
      h("div.actions", null, actions(c))),
    h("div.stats", null,
      stat("Queued", num(c.queued), c.held ? num(c.held) + " held" : null),
      stat("Oldest message", c.oldest_queued ? ago(c.oldest_queued_age) : "\u2013",
        c.oldest_queued ? when(c.oldest_queued) : null),
      stat("Expires", c.oldest_expires ? ago(-c.oldest_expires_in) : "\u2013",
        c.oldest_expires ? when(c.oldest_expires) : null),
      stat("Delivered", num(c.delivered)),
      stat("Deferrals", num(c.deferrals)),
      stat("Bounced", num(c.bounced))),
    h("div.connector-body", null,
      facts([
        ["Destination", c.hosts],
        ["Last host", dest && dest.host ? dest.host : "\u2013"],
        ["Last IP address", dest && dest.ip ? dest.ip : "\u2013"],
        ["Last attempt", when(c.last_attempt)],
        ["Health", c.health === "-" ? "not tried yet" : c.health + " (" + num(c.destinations) +
          " destination" + (c.destinations === 1 ? "" : "s") + ")"],
        ["Connections open", num(c.connections)],
        ["Queue", c.queued ? h("a", { href: "#/queue?connector=" + encodeURIComponent(c.name) },
          "Show its " + num(c.queued) + " message" + (c.queued === 1 ? "" : "s")) : "empty"],
      ]),
      lastError(le)),
    validation(validations.get(c.name)));
}

export function mount(el, params, ctx) {
  const list = h("div.cards");
  fill(el, h("div.view-head", null, h("h1", null, "Connectors"),
    h("p.lede", null, "Where the relay delivers. A connector that cannot deliver keeps its mail " +
      "queued and says why here; Validate makes a test connection and shows each step.")), list);
  let scrolled = false;
  return {
    async refresh() {
      const cj = await get("connectors");
      const cs = cj.connectors || [];
      fill(list, cs.length ? cs.map((c) => card(c, c.name === params.name))
        : empty("\u2013", "No connectors", "The configuration has no connectors."));
      if (params.name && !scrolled) {
        const t = document.getElementById("conn-" + params.name);
        if (t) t.scrollIntoView({ block: "start" });
        scrolled = true;
      }
      ctx.setTitle("Connectors");
    },
  };
}

