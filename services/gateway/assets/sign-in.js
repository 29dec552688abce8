// The demo sign-in page: pick a demo user, get a token, go back to the page.

import { call, setToken } from "./api.js";
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
    setToken(session.token);
    const back = new URLSearchParams(location.search).get("return");
    location.href = back && back.startsWith("/") && !back.startsWith("//") ? back : "/";
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
