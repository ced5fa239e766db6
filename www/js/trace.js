// trace.js: the message trace (/api/v1/trace, `sluicectl trace`): find
// messages by id, sender, recipient, status and time, and read each one's
// life in the order it happened: received, every attempt with its
// connector, host, code and reply, expiry, the NDR, the operator's
// actions.  Without a message trace in this sluiced (404) or with it off,
// the view says so.

import { h, fill, num, badge, code, clock, empty } from "./dom.js";
import { get, query, state as api, ApiError } from "./api.js";

const KEYS = ["id", "sender", "rcpt", "status", "since", "until", "limit"];
const STATUSES = ["delivered", "deferred", "bounced", "expired", "returned"];

export function statusBadge(st) {
  const k = { delivered: "ok", deferred: "warn", bounced: "bad", expired: "bad", returned: "bad",
    deleted: "off", held: "off", received: "info", released: "info", requeued: "info" }[st] || "info";
  return badge(k, st);
}

// An event's word, as `sluicectl trace` prints it.
function word(e) {
  if (e.event === "attempt" && e.result) return e.result;
  if (e.event === "ndr") return e.result === "sent" ? "NDR sent"
    : e.result === "delay notice" ? "delay notice" : "no NDR";
  return { fixnow: "fix-now", hold: "held", release: "released", delete: "deleted",
    bounce: "bounced", requeue: "requeued" }[e.event] || e.event;
}

function eventKind(e) {
  const w = word(e);
  if (w === "delivered") return "ok";
  if (w === "deferred" || w === "delay notice") return "warn";
  if (/bounced|expired|NDR|fix-now/.test(w)) return "bad";
  if (w === "received") return "info";
  return "off";
}

// "19:40:01.234" of an ISO time with milliseconds, in local time.
function ms(t) {
  const d = new Date(t);
  if (isNaN(d)) return t;
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds()) + "." +
    p(d.getMilliseconds(), 3);
}

function event(e) {
  const where = [e.connector, e.host || e.ip ? (e.host || "?") + (e.ip ? " [" + e.ip + "]" : "") : null]
    .filter(Boolean).join(" \u00B7 ");
  return h("li.event." + eventKind(e), null,
    h("span.event-dot", { "aria-hidden": "true" }),
    h("time.event-time", { datetime: e.time, title: e.time }, ms(e.time)),
    h("div.event-body", null,
      h("div.event-head", null, h("strong", null, word(e)),
        where ? h("span.muted", null, " " + where) : null, " ",
        e.code && e.code !== "remote" ? code(e.code, e.mfi || null) : null,
        e.ms !== null && e.event === "attempt" ? h("span.muted.small", null, " " + e.ms + " ms, attempt " + e.attempt) : null,
        e.ref ? h("span.small", null, " \u2192 ", h("a.mono", { href: "#/trace?id=" + e.ref }, e.ref)) : null),
      e.detail ? h("div.event-detail", null, e.detail) : null,
      e.rcpts && e.rcpts.length && e.event !== "received"
        ? h("div.event-rcpts.muted.small", null, "\u2192 " + e.rcpts.join(", ")) : null));
}

function message(m, open) {
  const to = m.recipients.join(", ") + (m.nrcpt > m.recipients.length
    ? " (+" + (m.nrcpt - m.recipients.length) + ")" : "");
  return h("details.trace-msg", { open, "data-id": m.id, "data-status": m.status },
    h("summary", null,
      statusBadge(m.status),
      h("span.trace-when", null, h("time", { datetime: m.received, title: m.received },
        clock(m.received))),
      h("span.trace-addr", null, h("span.addr", null, m.sender || "<>"), " \u2192 ",
        h("span.addr", null, to)),
      h("span.mono.muted.small", null, m.id)),
    h("div.trace-body", null,
      h("p.muted.small", null, [
        m.client ? "client " + m.client : null, m.size ? num(m.size) + " bytes" : null,
        m.tenant ? "tenant " + m.tenant : null].filter(Boolean).join(" \u00B7 "),
      m.report_on ? [" \u00B7 report on ", h("a.mono", { href: "#/trace?id=" + m.report_on },
        m.report_on)] : null),
      h("ol.timeline", null, m.events.map(event))));
}

export function mount(el, params, ctx) {
  const q = {};
  for (const k of KEYS) if (params.q.get(k)) q[k] = params.q.get(k);
  const input = (label, name, ph, attrs = {}) => h("label.field", null, h("span", null, label),
    h("input", Object.assign({ name, value: q[name] || "", placeholder: ph, autocomplete: "off",
      spellcheck: "false" }, attrs)));
  const status = h("select", { name: "status" }, h("option", { value: "" }, "Any"),
    STATUSES.map((s) => h("option", { value: s, selected: q.status === s }, s)));
  const form = h("form.filters", { role: "search" },
    input("Message ID", "id", "6B15BA0F01000000", { size: 17, class: "mono" }),
    input("Sender", "sender", "a@example.com"),
    input("Recipient", "rcpt", "*@example.net"),
    h("label.field", null, h("span", null, "Status"), status),
    input("Since", "since", "1d", { size: 4 }),
    input("Until", "until", "now", { size: 4 }),
    h("div.filter-buttons", null, h("button.btn.primary", { type: "submit" }, "Search"),
      h("a.btn.ghost", { href: "#/trace" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const o = q.limit ? { limit: q.limit } : {};	// a limit from the address stays
    for (const k of KEYS) {
      const v = form.elements[k] ? form.elements[k].value.trim() : "";
      if (v) o[k] = v;
    }
    ctx.go("#/trace" + query(o));
  });
  const out = h("div.trace-results");
  const formCard = h("section.card", null, form);
  fill(el, h("div.view-head", null, h("h1", null, "Message trace"),
    h("p.lede", null, "The life of each message: received, every attempt, delivered, " +
      "deferred, returned, and what an operator did. Patterns take *; times are ages " +
      "(90s, 10m, 1h, 2d) or ISO times.")), formCard, out);
  const open = new Set(q.id ? [q.id.toUpperCase()] : []);
  out.addEventListener("toggle", (ev) => {
    const id = ev.target.dataset && ev.target.dataset.id;
    if (id) ev.target.open ? open.add(id) : open.delete(id);
  }, true);

  let missing = false;	// said so once: no message trace to ask again
  return {
    async refresh() {
      let tj;
      if (missing) return;
      try {
        tj = await get("trace" + query(Object.assign({ limit: "50" }, q)));
      } catch (e) {
        if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 400)) throw e;
        if (e.status === 404 && /not available/.test(e.message)) {
          api.traceMissing = missing = true;
          formCard.hidden = true;
          fill(out, h("section.card", null, empty("\u2013", "No message trace here",
            "This sluiced was built without the message trace, so there is nothing to " +
            "search. The queue shows the mail that is still waiting.")));
        } else {
          fill(out, h("section.card", null, h("p.form-error", { role: "alert" }, e.message)));
        }
        ctx.setTitle("Message trace");
        return;
      }
      api.traceMissing = false;
      const ms = tj.messages || [];
      fill(out, h("p.tally", null, h("strong", null, num(ms.length)),
        ms.length === 1 ? " message" : " messages", tj.more ? " (more: narrow the search or raise the limit)" : "",
        h("span.muted", null, ", newest first")),
      ms.length ? h("section.card.flush", null, ms.map((m) => message(m, open.has(m.id) || ms.length === 1)))
        : h("section.card", null, empty("\u2013", "No message found",
          "Nothing in the trace matches; widen the time range or check the address.")));
      ctx.setTitle("Message trace");
    },
  };
}
