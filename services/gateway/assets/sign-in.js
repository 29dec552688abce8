// The demo sign-in page: pick a demo user, get a token, go back to the page. The token
// is handed over in the fragment with the sign-in's state, as an identity provider's
// redirect does, so the demo goes through the same checks.

import { beginSignIn, call, safeReturnPath } from "./api.js";
import { el } from "./format.js";

function showError(message) {
  const banner = document.getElementById("banner");
  banner.textContent = message;
  banner.className = "banner error";
  banner.hidden = false;
}

async function signIn(user) {
  try {
    const session = await call("POST", "/api/v1/demo/sign-in", {
      body: JSON.stringify({ user: user.id }), contentType: "application/json",
    });
    const state = beginSignIn();
    let back = safeReturnPath(new URLSearchParams(location.search).get("return"));
    if (back.startsWith("/sign-in")) back = "/";
    const handover = new URLSearchParams({ access_token: session.token, state });
    location.assign(`${back}#${handover}`);
  } catch (error) {
    showError(error.message);
  }
}

async function start() {
  try {
    const users = await call("GET", "/api/v1/demo/users");
    document.getElementById("demo-users").replaceChildren(...users.map((user) =>
      el("li", {},
        el("button", { type: "button", id: `sign-in-${user.id}`, onclick: () => signIn(user) },
          `Sign in as ${user.name}`),
        el("span", {}, ` — account ${user.account}, ${user.email}; ${user.description} (${user.roles.join(", ")})`))));
  } catch (error) {
    showError(error.status === 404
      ? "Demo users are not enabled on this gateway. Sign in through your identity provider."
      : error.message);
  }
}

start();
