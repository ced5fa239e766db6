// queue.js: the queue, filtered as `show queue` filters it (connector,
// sender and recipient patterns, age), with Retry now / Hold / Release
// for what the filter selects; and one message in full (`show message`):
// its envelope, each recipient's state, each destination's attempts and
// its headers.

import { h, fill, num, dur, ago, badge, code, when, facts, empty } from "./dom.js";
import { get, query, state as api, ApiError } from "./api.js";
import { act, button, selectionText } from "./actions.js";
import { confirmAction } from "./dialogs.js";

const FILTERS = ["connector", "sender", "rcpt", "older", "younger"];

export function stateBadge(st) {
  const map = {
    deferred: ["warn", "Deferred"], held: ["off", "Held"], ready: ["info", "Ready"],
    queued: ["info", "Ready"], active: ["info", "Sending"], delivered: ["ok", "Delivered"],
    failed: ["bad", "Failed"], returning: ["bad", "Returning"],
  };
  const [k, t] = map[st] || ["off", st];
  return badge(k, t);
}

function field(label, name, value, attrs = {}) {
  return h("label.field", null, h("span", null, label),
    h("input", Object.assign({ name, value: value || "", autocomplete: "off",
      spellcheck: "false" }, attrs)));
}

// The actions on what the filter selects: by ids when the list shows all
// of it (at most 15, the API's limit), else by the filter itself.
function bulk(sel, shown, count) {
  const body = Object.keys(sel).length ? Object.assign({}, sel) : { all: true };
  const what = Object.keys(sel).length
    ? "the " + num(count) + " message" + (count === 1 ? "" : "s") + " this filter selects"
    : "every queued message (" + num(count) + ")";
  const run = (verb, path, past, extra) => async () => {
    const yes = await confirmAction(verb + " " + what + "?", extra, verb);
    if (yes) await act(path, body, (r) => selectionText(past, r));
  };
  return h("div.actions", null,
    button("Retry now", run("Retry", "flush", "Retried",
      ["Deferred mail is tried again now, without waiting for its next retry."]), "",
    { "data-action": "flush" }),
    button("Hold", run("Hold", "hold", "Held",
      ["Held mail stays queued and is not tried until it is released; it still expires."]),
    "", { "data-action": "hold" }),
    button("Release", run("Release", "release", "Released",
      ["Released mail is tried again at its next retry (Retry now tries it at once)."]),
    "", { "data-action": "release" }));
}

export function mountQueue(el, params, ctx) {
  const sel = {};
  for (const k of FILTERS) if (params.q.get(k)) sel[k] = params.q.get(k);
  const limit = params.q.get("limit") || "200";
  const conn = h("select", { name: "connector" }, h("option", { value: "" }, "Any"));
  const form = h("form.filters", { role: "search" },
    h("label.field", null, h("span", null, "Connector"), conn),
    field("Sender", "sender", sel.sender, { placeholder: "*@example.com" }),
    field("Recipient", "rcpt", sel.rcpt, { placeholder: "bob@example.net" }),
    field("Older than", "older", sel.older, { placeholder: "10m", size: 5 }),
    field("Younger than", "younger", sel.younger, { placeholder: "2h", size: 5 }),
    field("At most", "limit", limit, { size: 4, inputmode: "numeric" }),
    h("div.filter-buttons", null, h("button.btn.primary", { type: "submit" }, "Filter"),
      h("a.btn.ghost", { href: "#/queue" }, "Clear")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const o = {};
    for (const k of FILTERS.concat(["limit"])) {
      const v = form.elements[k].value.trim();
      if (v && !(k === "limit" && v === "200")) o[k] = v;
    }
    ctx.go("#/queue" + query(o));
  });
  const bar = h("div.queue-bar");
  const list = h("div");
  fill(el, h("div.view-head", null, h("h1", null, "Queue"),
    h("p.lede", null, "Mail waiting for delivery, oldest first. Patterns take * (a glob) " +
      "and ages 90s, 10m, 1h, 2d.")), h("section.card", null, form), bar, list);
  let connectorsLoaded = false;

  return {
    async refresh() {
      const [qj, cj] = await Promise.all([get("queue" + query(Object.assign({ limit }, sel))),
        connectorsLoaded ? null : get("connectors")]);
      if (cj) {
        for (const c of cj.connectors || [])
          conn.append(h("option", { value: c.name, selected: c.name === sel.connector }, c.name));
        connectorsLoaded = true;
      }
      const ms = qj.messages || [];
      const total = Object.keys(sel).length ? qj.count : (ctx.global.info || {}).queued;
      fill(bar, h("p.tally", null, h("strong", null, num(ms.length)),
        ms.length === 1 ? " message" : " messages",
        Object.keys(sel).length ? " match" : " queued",
        ms.length >= Number(limit) ? " (the first " + num(limit) + " shown)" : ""),
      ms.length ? bulk(sel, ms.length, Math.max(ms.length, total || 0)) : null);
      fill(list, ms.length ? h("section.card.flush", null, h("div.table-wrap", null,
        h("table.table.queue", null,
          h("thead", null, h("tr", null, ["Message", "Age", "State", "From", "To", "Via",
            "Tries", "Last error"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", null, ms.map((m) => h("tr", { "data-id": m.id },
            h("td.nowrap", null, h("a.mono", { href: "#/message/" + m.id }, m.id)),
            h("td.nowrap", { title: m.arrival }, dur(m.age)),
            h("td", null, stateBadge(m.state)),
            h("td.addr", null, m.sender || "<>"),
            h("td.addr", null, m.recipients.slice(0, 3).map((r) => h("span.rcpt", null, r)),
              m.recipients.length > 3 ? h("span.rcpt.muted", null, "and " +
                (m.recipients.length - 3) + " more") : null),
            h("td", null, m.destinations.join(", ")),
            h("td.num", null, num(m.attempts)),
            h("td.err", null, code(m.code), " ", m.last_error || "")))))))
        : h("section.card", null, empty("\u2713", Object.keys(sel).length ? "Nothing matches"
          : "The queue is empty", Object.keys(sel).length ? "No queued message matches the filter."
          : "Every message received has been delivered or returned.")));
      ctx.setTitle("Queue");
    },
  };
}

function jobCard(j) {
  return h("div.job", null,
    h("div.job-head", null, h("h3", null, j.destination), stateBadge(j.state),
      h("span.muted.small", null, num(j.recipients) + " recipient" + (j.recipients === 1 ? "" : "s"))),
    facts([
      ["Attempts", num(j.attempts)],
      ["Last attempt", when(j.last_attempt)],
      ["Next attempt", j.next_attempt ? when(j.next_attempt) : "\u2013"],
      ["Expires", when(j.expires)],
      ["Last error", j.last_error ? [code(j.code), " ", j.last_error] : "\u2013"],
      ["Detail", j.detail || null],
      ["Host", j.host ? j.host + (j.ip ? " [" + j.ip + "]" : "") : null],
    ]),
    j.history && j.history.length ? h("div.table-wrap", null, h("table.table.compact", null,
      h("thead", null, h("tr", null, ["#", "Time", "After", "Took", "Result", "Code"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", null, j.history.map((a) => h("tr", null, h("td.num", null, a.attempt),
        h("td", null, when(a.time)), h("td", null, dur(a.after)), h("td", null, a.ms + " ms"),
        h("td", null, a.result), h("td", null, code(a.status), " ", a.mfi !== "none" ? a.mfi : "")))))) : null);
}

export function mountMessage(el, params, ctx) {
  const id = params.id;
  const body = h("div");
  const actions = h("div.actions");
  fill(el, h("div.view-head", null,
    h("p.crumbs", null, h("a", { href: "#/queue" }, "Queue"), " / "),
    h("div.title-row", null, h("h1", null, "Message", h("span.mono", null, id)), actions)), body);
  return {
    async refresh() {
      let m;
      try {
        m = await get("messages/" + encodeURIComponent(id));
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
        fill(actions);
        fill(body, h("section.card", null, empty("\u2013", "Not in the queue",
          "This message is no longer queued: it was delivered, returned or deleted."),
        api.traceMissing ? null : h("p.center", null,
          h("a.btn", { href: "#/trace?id=" + id }, "Find it in the message trace"))));
        return;
      }
      const ids = { ids: [m.id] };
      fill(actions,
        button("Retry now", () => act("flush", ids, (r) => selectionText("Retried", r)), "",
          { "data-action": "flush" }),
        m.held ? button("Release", () => act("release", ids, (r) => selectionText("Released", r)),
          "", { "data-action": "release" })
          : button("Hold", () => act("hold", ids, (r) => selectionText("Held", r)), "",
            { "data-action": "hold" }),
        api.traceMissing ? null : h("a.btn.ghost", { href: "#/trace?id=" + m.id }, "Trace"));
      fill(body,
        h("div.columns", null,
          h("section.card", null, h("h2", null, "Envelope"), facts([
            ["From", m.sender || "<>"],
            ["Received", [when(m.arrival), h("span.muted", null, " (" + ago(m.age) + ")")]],
            ["Size", num(m.size) + " bytes"],
            ["Client", m.client + (m.helo ? " (" + m.helo + ")" : "")],
            ["State", m.held ? badge("off", "Held") : num(m.pending) + " recipient" +
              (m.pending === 1 ? "" : "s") + " pending"],
            ["ENVID", m.envid], ["RET", m.ret], ["Body", m.body],
            ["SMTPUTF8", m.smtputf8 ? "yes" : null],
            ["Spool", m.spool ? m.spool.segment + (m.spool.body_file ? ", " + m.spool.body_file : "") : null],
          ])),
          h("section.card", null, h("h2", null, "Recipients"), h("div.table-wrap", null,
            h("table.table.compact", null,
              h("thead", null, h("tr", null, ["Address", "State", "Via", "Notify"].map((t) =>
                h("th", { scope: "col" }, t)))),
              h("tbody", null, m.recipients.map((r) => h("tr", null,
                h("td.addr", null, r.address), h("td", null, stateBadge(r.state)),
                h("td", null, r.destination || "\u2013"), h("td", null, r.notify)))))))),
        h("section.card", null, h("h2", null, "Delivery"), m.jobs.length ? m.jobs.map(jobCard)
          : h("p.muted", null, "No destination left to try.")),
        h("section.card", null, h("h2", null, "Headers"),
          h("pre.headers", null, (m.headers || []).join("\n")),
          m.headers_truncated ? h("p.muted.small", null, "Cut at " + num(m.headers_bytes) + " bytes.") : null,
          m.headers_error ? h("p.form-error", null, m.headers_error) : null));
      ctx.setTitle(m.id);
    },
  };
}
