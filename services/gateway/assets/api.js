// The REST API, as the page uses it: the bearer token from this tab's session, plain
// JSON errors turned into exceptions with the server's message.

const TOKEN_KEY = "bgjobs.token";

/// An error answer of the API (or the network failing), with a message for the user.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const STATE_KEY = "bgjobs.sign-in-state";
/// A job id (a UUID), as the API names jobs.
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/// Starts a sign-in: a fresh random `state`, kept for this tab, which the token handed
/// back in the fragment must carry. Answers the state to send to the sign-in.
export function beginSignIn() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const state = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  sessionStorage.setItem(STATE_KEY, state);
  return state;
}

/// Takes a token handed over in the URL fragment (`#access_token=...&state=...`, as a
/// sign-in's redirect does) only when its `state` is the one this tab's sign-in started:
/// anyone can link to the page with a token of their own in the fragment. The fragment
/// is removed from the address bar and the state forgotten either way. Answers
/// "adopted", "ignored" (a token without the right state) or "none".
export function adoptTokenFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const handedOver = fragment.get("access_token");
  if (!handedOver) return "none";
  history.replaceState(null, "", location.pathname + location.search);
  const expected = sessionStorage.getItem(STATE_KEY);
  sessionStorage.removeItem(STATE_KEY);
  if (!expected || fragment.get("state") !== expected) return "ignored";
  sessionStorage.setItem(TOKEN_KEY, handedOver);
  return "adopted";
}

/// Where to go back to after signing in: `value` when it is a path on this site ("/"
/// then anything but "/" or "\", no control character), else "/". Only the path and
/// query are kept.
export function safeReturnPath(value) {
  if (typeof value !== "string" || !/^\/(?![/\\])/.test(value)) return "/";
  // Browsers drop tabs and newlines from URLs and read "\" as "/": "/\t/x" is "//x".
  if (/[\u0000-\u001f\u007f\\]/.test(value)) return "/";
  const url = new URL(value, location.origin);
  return url.origin === location.origin ? url.pathname + url.search : "/";
}

/// Whether `value` has the shape of a job id; anything else is never sent to the API.
export function isJobId(value) {
  return typeof value === "string" && JOB_ID.test(value);
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
}

async function failure(response) {
  let code = "error";
  let message = `The server answered ${response.status}.`;
  try {
    const body = await response.json();
    if (body && body.error) {
      code = body.error.code;
      message = body.error.message;
    }
  } catch (_) {
    // Not JSON (a proxy's page): keep the generic message.
  }
  return new ApiError(response.status, code, message);
}

/// Calls the API; resolves with the JSON body, rejects with an ApiError.
export async function call(method, path, { body, contentType } = {}) {
  const headers = { Accept: "application/json" };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (contentType) headers["Content-Type"] = contentType;
  let response;
  try {
    response = await fetch(path, { method, headers, body });
  } catch (_) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection; the page retries by itself.");
  }
  if (!response.ok) throw await failure(response);
  return response.status === 204 ? null : response.json();
}

/// Follows the live updates (Server-Sent Events read with fetch, so the token goes in a
/// header, never in a URL). Calls onEvent(name, data) per event; resolves when the
/// stream ends, rejects with an ApiError when it cannot start.
export async function follow(path, onEvent, signal) {
  const response = await fetch(path, {
    headers: { Accept: "text/event-stream", Authorization: `Bearer ${token()}` },
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length || name !== "message") onEvent(name, data.join("\n"));
    }
  }
}
