// app.js: the dashboard's frame: the views behind the #/ addresses, the
// header and navigation, and the live refresh.
//
// Every 5 seconds (while the tab is visible and not paused) the frame
// reads info and insights, which the header and the navigation show on
// every view, and asks the current view to refresh itself.  A view is
// mounted once per address and keeps what a person is doing (a filter
// being typed, a validation's result, an open message) across refreshes;
// only the parts that show the relay's state are drawn again.

import { h, fill, num, dur, clock } from "./dom.js";
import { get, state as api, token, setToken, ApiError } from "./api.js";
import { hooks } from "./actions.js";
import { askToken } from "./dialogs.js";
import * as overview from "./overview.js";
import * as connectors from "./connectors.js";
import * as insights from "./insights.js";
import * as tenants from "./tenants.js";
import { mountQueue, mountMessage } from "./queue.js";
import * as trace from "./trace.js";

const PERIOD = 5000;

const VIEWS = {
  overview: { nav: "overview", mount: overview.mount },
  connectors: { nav: "connectors", mount: connectors.mount },
  insights: { nav: "insights", mount: insights.mount },
  tenants: { nav: "tenants", mount: tenants.mount },
  queue: { nav: "queue", mount: mountQueue },
  message: { nav: "queue", mount: mountMessage },
  trace: { nav: "trace", mount: trace.mount },
};

const global = { info: null, insights: null };
let current = null;		// {name, view, gen}
let gen = 0;
let timer = null;
let paused = false;
let busy = false;
let askingReadToken = false;

const $ = (id) => document.getElementById(id);

// "#/queue?connector=x" -> {name: "queue", name/id: ..., q: URLSearchParams}
function parse(hash) {
  const [path, qs] = hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const name = VIEWS[parts[0]] ? parts[0] : "overview";
  return { name, arg: parts[1] || "", q: new URLSearchParams(qs || "") };
}

const ctx = {
  global,
  go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
  setTitle(title, count) {
    document.title = (count ? "(" + count + ") " : "") + title + " \u00B7 Sluice" +
      (global.info ? " \u00B7 " + global.info.hostname : "");
  },
};

function route() {
  const p = parse(location.hash);
  const params = { name: p.name === "connectors" ? p.arg : "", id: p.arg, q: p.q };
  const main = $("view");
  const g = ++gen;
  main.replaceChildren();
  current = { name: p.name, gen: g, view: VIEWS[p.name].mount(main, params, ctx) };
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === VIEWS[p.name].nav) {
      a.setAttribute("aria-current", "page");
      a.scrollIntoView({ block: "nearest", inline: "nearest" });	// a narrow window's row
    } else {
      a.removeAttribute("aria-current");
    }
  }
  main.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  tick();
}

function live(kind, text) {
  const el = $("live");
  el.className = "live " + kind;
  fill(el, h("span.live-dot", { "aria-hidden": "true" }), text);
}

function banner() {
  const b = $("banner");
  const lines = [];
  if (api.writeOff)
    lines.push(h("p", null, h("strong", null, "Read-only. "), "This listener runs with ",
      h("code", null, "http: write: false"), ", so the buttons that change something are " +
      "off. To use them, set ", h("code", null, "write: true"), " and a ",
      h("code", null, "token_file"), " in the http: section of sluice.yaml and restart " +
      "sluiced."));
  fill(b, lines);
  b.hidden = lines.length === 0;
  $("forget").hidden = !token();
}

function header() {
  const i = global.info;
  if (i) {
    fill($("host"), h("strong", null, i.hostname),
      h("span.muted", null, " \u00B7 sluiced " + i.version + " \u00B7 up " + dur(i.uptime) +
        " \u00B7 " + i.workers + " workers"));
  }
  const n = insights.alertCount(global.insights);
  const ni = $("n-insights");
  ni.textContent = n ? String(n) : "";
  ni.hidden = !n;
  ni.title = n ? n + " open insight" + (n === 1 ? "" : "s") : "";
  const nq = $("n-queue");
  nq.textContent = i && i.queued ? num(i.queued) : "";
  nq.hidden = !(i && i.queued);
}

function viewError(e) {
  const main = $("view");
  let box = main.querySelector(":scope > .view-error");
  if (!e) {
    if (box) box.remove();
    return;
  }
  if (!box) {
    box = h("div.view-error", { role: "alert" });
    main.prepend(box);
  }
  fill(box, h("strong", null, "Could not load this view: "), e.message);
}

async function tick() {
  clearTimeout(timer);
  timer = null;
  if (busy) {			// a refresh is running: one more right after
    timer = setTimeout(tick, 300);
    return;
  }
  if (!paused && !document.hidden) {
    busy = true;
    const g = gen;
    try {
      const [i, ins] = await Promise.all([get("info"), get("insights")]);
      global.info = i;
      global.insights = ins;
      header();
      if (current && current.gen === g) {
        try {
          await current.view.refresh();
          viewError(null);
        } catch (e) {
          if (e.status === 0 || e.status === 401) throw e;
          viewError(e);
        }
      }
      live("ok", "Live \u00B7 updated " + clock(Date.now() / 1000));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && !askingReadToken) {
        askingReadToken = true;	// read_token: true, and no token or a wrong one
        setToken("");
        const t = await askToken("This listener asks the token for reading too (read_token).");
        askingReadToken = false;
        if (t) {
          setToken(t);
          busy = false;
          return tick();
        }
      }
      live("bad", e.status === 0 ? "Cannot reach sluiced \u00B7 retrying" : e.message);
    } finally {
      busy = false;
    }
  }
  if (!paused) timer = setTimeout(tick, PERIOD);
}

// Is there a message trace?  Asked once: without one (404) the
// navigation says so and the message view offers no trace link.
async function probeTrace() {
  try {
    await get("trace?limit=1");
  } catch (e) {
    if (e.status === 404 && /not available/.test(e.message)) {
      api.traceMissing = true;
      const a = document.querySelector('#nav a[data-view="trace"]');
      a.classList.add("unavailable");
      a.title = "This sluiced has no message trace";
    }
  }
}

function start() {
  $("pause").addEventListener("click", () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    $("pause").setAttribute("aria-pressed", String(paused));
    if (paused) live("off", "Paused");
    tick();
  });
  $("forget").addEventListener("click", () => setToken(""));
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) tick();
  });
  window.addEventListener("hashchange", route);
  api.listeners.add(() => {
    banner();
    tick();
  });
  hooks.refresh = () => tick();
  banner();
  live("off", "Connecting\u2026");
  probeTrace().finally(route);
}

start();
