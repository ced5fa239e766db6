// api.js: the relay's HTTP API (/api/v1/..., the same JSON as
// sluicectl --json) and the bearer token the actions need.
//
// The token is asked for once, when the first action needs it, and kept
// in this tab's sessionStorage: it goes out only as an Authorization
// header of a same-origin fetch, never in a cookie, so a page of another
// site cannot make the browser send it.  The listener refuses actions
// without it, and every action when it runs with http: write: false; the
// page then says so and greys its buttons (state.writeOff).

const KEY = "sluice.token";

export const state = {
  writeOff: false,		// the listener said http: write: false
  traceMissing: false,		// /api/v1/trace is 404: no message trace in this sluiced
  listeners: new Set(),		// called when writeOff or the token changes
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function changed() {
  for (const f of state.listeners) f();
}

export function token() {
  try {
    return sessionStorage.getItem(KEY) || "";
  } catch (e) {
    return memoryToken;
  }
}

let memoryToken = "";	// when sessionStorage is not available

export function setToken(t) {
  memoryToken = t || "";
  try {
    if (t) sessionStorage.setItem(KEY, t);
    else sessionStorage.removeItem(KEY);
  } catch (e) { /* kept in memory only */ }
  changed();
}

async function answer(res) {
  let body = null;
  const text = await res.text();
  try {
    body = text ? JSON.parse(text) : null;
  } catch (e) {
    if (res.ok) throw new ApiError(res.status, "the answer is not JSON");
  }
  if (!res.ok) {
    const msg = body && body.error ? body.error : res.status + " " + res.statusText;
    throw new ApiError(res.status, msg);
  }
  return body;
}

// GET /api/v1/<path>: the JSON, or an ApiError (status 0: unreachable).
export async function get(path) {
  let res;
  try {
    res = await fetch("api/v1/" + path, {
      headers: token() ? { Authorization: "Bearer " + token() } : {},
      cache: "no-store",
      credentials: "omit",
    });
  } catch (e) {
    throw new ApiError(0, "cannot reach sluiced: " + e.message);
  }
  return answer(res);
}

// POST /api/v1/<path> with body (an object) and the token.  Without a
// token the request goes once as it is: a listener with write: false
// answers 403 to it (the page learns that without asking for a token),
// one with write: true 401, and then askToken() is called; also when the
// listener refused the token sent.  askToken resolves to the token, or
// null when the person cancelled (then this rejects with status -1).
export async function post(path, body, askToken) {
  let refused = 0;
  for (let tries = 0; tries < 4; tries++) {
    if (!token() && tries > 0) {
      const t = await askToken(refused > 0 ? "The listener refused that token." : "");
      if (!t) throw new ApiError(-1, "cancelled");
      setToken(t);
    }
    const headers = { "Content-Type": "application/json" };
    if (token()) headers.Authorization = "Bearer " + token();
    let res;
    try {
      res = await fetch("api/v1/" + path, {
        method: "POST",
        headers,
        body: JSON.stringify(body || {}),
        cache: "no-store",
        credentials: "omit",
      });
    } catch (e) {
      throw new ApiError(0, "cannot reach sluiced: " + e.message);
    }
    if (res.status === 401) {
      if (token()) refused++;
      setToken("");
      continue;
    }
    if (res.status === 403) {
      const err = await answer(res).catch((e) => e);
      if (/changes are off/.test(err.message) && !state.writeOff) {
        state.writeOff = true;
        changed();
      }
      throw err;
    }
    return answer(res);
  }
  throw new ApiError(401, "the listener refused the token three times");
}

// The query string of the non-empty members of o.
export function query(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== "" && v !== null && v !== undefined) p.set(k, v);
  const q = p.toString();
  return q ? "?" + q : "";
}
