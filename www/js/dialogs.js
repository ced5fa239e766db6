// dialogs.js: the modal questions (token, confirmation, validate's
// recipient) and the notices that report what an action did.
//
// Each dialog is a <dialog> made for the question and removed after; the
// promise resolves with the answer, or null when the person cancelled
// (Escape, Cancel, or a click outside).

import { h } from "./dom.js";

function modal(title, body, buttons, onSubmit) {
  return new Promise((resolve) => {
    const form = h("form.dialog-form", { method: "dialog" },
      h("h2", null, title), body,
      h("div.dialog-buttons", null, buttons));
    const dlg = h("dialog.dialog", { "aria-label": title }, form);
    let result = null;
    form.addEventListener("submit", (ev) => {
      const submitter = ev.submitter;
      if (submitter && submitter.value === "cancel") return;
      result = onSubmit();
    });
    dlg.addEventListener("click", (ev) => {
      if (ev.target === dlg) dlg.close();	// the backdrop
    });
    dlg.addEventListener("close", () => {
      dlg.remove();
      resolve(result);
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector("input, .btn.primary, .btn.danger");
    if (first) first.focus();
  });
}

function cancel() {
  return h("button.btn", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel");
}

// The listener's token: resolves to it, or null.  why: a line to show first
// (the last one was refused).
export function askToken(why) {
  const input = h("input#token-input", {
    type: "password", autocomplete: "off", spellcheck: "false", required: true,
    minlength: 16, "aria-describedby": "token-help",
  });
  return modal("Token needed", [
    why ? h("p.form-error", { role: "alert" }, why) : null,
    h("p#token-help", null,
      "Actions need the listener's token: the first line of the file named by ",
      h("code", null, "http: token_file"), ". It is kept in this tab only and sent as an ",
      h("code", null, "Authorization: Bearer"), " header, never in a cookie."),
    h("label.field", null, h("span", null, "Token"), input),
  ], [cancel(), h("button.btn.primary", { type: "submit", value: "ok" }, "Continue")],
  () => input.value.trim());
}

// A yes/no question: resolves to true, or null.  paras: strings or
// elements, one paragraph each; danger: the confirm button is red.
export function confirmAction(title, paras, label, danger = false) {
  return modal(title, paras.map((p) => h("p", null, p)),
    [cancel(), h("button.btn." + (danger ? "danger" : "primary"), { type: "submit", value: "ok" },
      label)], () => true);
}

// Validate's options: resolves to {rcpt, send}, or null.
export function askValidate(connector) {
  const rcpt = h("input#validate-rcpt", { type: "email", placeholder: "postmaster@example.com",
    autocomplete: "off" });
  const send = h("input#validate-send", { type: "checkbox" });
  return modal("Validate connector " + connector, [
    h("p", null, "A test connection through the connector, as a delivery would make it: "
      + "DNS, connect, banner, EHLO, STARTTLS and the certificate, then MAIL and RCPT when a "
      + "recipient is given. Nothing is queued."),
    h("label.field", null, h("span", null, "Recipient (optional)"), rcpt),
    h("label.check", null, send, " Send a test message to this recipient"),
  ], [cancel(), h("button.btn.primary", { type: "submit", value: "ok" }, "Run the test")],
  () => ({ rcpt: rcpt.value.trim(), send: send.checked && rcpt.value.trim() !== "" }));
}

// A short notice in the corner: what an action did, or why it failed.
export function notice(text, kind = "ok") {
  let box = document.getElementById("notices");
  if (!box) {
    box = h("div#notices.notices", { role: "status", "aria-live": "polite" });
    document.body.append(box);
  }
  const icon = { ok: "\u2713", bad: "\u2715", warn: "\u25B2" }[kind] || "i";
  const n = h("div.notice." + kind, null, h("span.icon", { "aria-hidden": "true" }, icon),
    h("span", null, text),
    h("button.close", { type: "button", "aria-label": "Dismiss", onclick: () => n.remove() },
      "\u00D7"));
  box.append(n);
  setTimeout(() => n.remove(), kind === "ok" ? 6000 : 12000);
}
