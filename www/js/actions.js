// actions.js: the buttons that change something (POST /api/v1/...): the
// token asked once, a confirmation where the change is not trivially
// undone, a notice with what happened, and a refresh of the page.
//
// With http: write: false every action is refused (403); the first
// refusal sets state.writeOff, the page says why in a banner, and the
// buttons made after are disabled with the same reason on hover.

import { h } from "./dom.js";
import { post, state } from "./api.js";
import { askToken, notice } from "./dialogs.js";

export const hooks = { refresh: () => {} };	// set by app.js

export const WRITE_OFF = "Changes are off: this listener runs with http: write: false";

// POST path with body.  ok(result) makes the notice: its text, or
// [text, kind] (kind as notice() takes it).  Resolves to the answer, or
// null after a failure (already reported).
export async function act(path, body, ok) {
  try {
    const res = await post(path, body, askToken);
    if (ok) {
      const n = ok(res);
      if (Array.isArray(n)) notice(n[0], n[1]);
      else notice(n, "ok");
    }
    hooks.refresh();
    return res;
  } catch (e) {
    if (e.status === -1) return null;		// the token dialog was cancelled
    notice(e.message, "bad");
    hooks.refresh();
    return null;
  }
}

// A button that runs fn (async) once at a time.  kind: "" (plain),
// "primary", "danger" or "ghost".
export function button(label, fn, kind = "", extra = {}) {
  const b = h("button.btn" + (kind ? "." + kind : ""), Object.assign({ type: "button" }, extra),
    label);
  if (state.writeOff) {
    b.disabled = true;
    b.title = WRITE_OFF;
  }
  b.addEventListener("click", async () => {
    b.disabled = true;
    b.classList.add("busy");
    try {
      await fn();
    } finally {
      b.classList.remove("busy");
      b.disabled = state.writeOff;
    }
  });
  return b;
}

// What flush, hold and release did, in a sentence.
export function selectionText(verb, r) {
  const n = r.messages || 0;
  let t = verb + " " + n + " message" + (n === 1 ? "" : "s");
  if (r.busy) t += " (" + r.busy + " being delivered now)";
  if (r.not_found && r.not_found.length) t += "; no longer queued: " + r.not_found.join(", ");
  return t;
}
