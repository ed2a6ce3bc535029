// The UI's entry point: sign-in, the hash router and the page frame. Each screen is an ES module exporting
// `render(main, params)`, which draws into `main` and may return a cleanup function (stop polling, abort
// requests) that runs when the user leaves the screen.

import { ApiError, api, apiKey, forgetApiKey, setApiKey, whenUnauthorized } from "./api.js";
import { h, replace, toast } from "./dom.js";
import { field, input } from "./forms.js";

const ROUTES = [
  [/^\/$/, "dashboard", () => import("./screens/dashboard.js")],
  [/^\/new$/, "new", () => import("./screens/wizard.js")],
  [/^\/ingestions\/(?<id>[^/]+)\/edit$/, "dashboard", () => import("./screens/wizard.js")],
  [/^\/ingestions\/(?<id>[^/]+)\/runs\/(?<runId>[^/]+)$/, "dashboard", () => import("./screens/run.js")],
  [/^\/ingestions\/(?<id>[^/]+)(?:\/(?<tab>[a-z-]+))?$/, "dashboard", () => import("./screens/detail.js")],
  [/^\/clusters$/, "clusters", () => import("./screens/clusters.js")],
];

const main = document.getElementById("main");
let cleanup = null;
let renderToken = 0;

/** The current route: path and query of the hash ("#/ingestions/x?tab=runs"). */
export function currentRoute() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, search = ""] = hash.split("?");
  return { path, query: new URLSearchParams(search) };
}

/** Go to a route of the UI ("/ingestions/x"). */
export function navigate(path) {
  if (location.hash === `#${path}`) route();
  else location.hash = path;
}

async function route() {
  cleanup?.();
  cleanup = null;
  const token = ++renderToken;
  if (!apiKey()) {
    showSignedOut();
    renderSignIn();
    return;
  }
  showSignedIn();
  const { path, query } = currentRoute();
  const match = ROUTES.map(([pattern, nav, load]) => [path.match(pattern), nav, load]).find(([m]) => m);
  if (!match) {
    replace(main, notFound(path));
    return;
  }
  const [found, nav, load] = match;
  highlight(nav);
  replace(main, h("p.loading", { role: "status" }, "Loading…"));
  try {
    const screen = await load();
    if (token !== renderToken) return;
    const params = { ...(found.groups || {}), query };
    cleanup = (await screen.render(main, params)) || null;
  } catch (error) {
    if (token !== renderToken) return;
    replace(main, failure(error));
  }
  if (token === renderToken) main.focus({ preventScroll: true });
}

function highlight(nav) {
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === nav) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function notFound(path) {
  return h(
    "section.panel",
    null,
    h("h1", null, "Page not found"),
    h("p", null, `Nothing lives at ${path}. `, h("a", { href: "#/" }, "Back to the ingestions")),
  );
}

/** What a screen shows when its data could not be loaded. */
export function failure(error) {
  const message = error instanceof ApiError ? error.message : `The page could not be shown: ${error.message}`;
  return h(
    "section.panel",
    null,
    h("h1", null, error instanceof ApiError && error.status === 404 ? "Not found" : "Something went wrong"),
    h("p.form-alert", { role: "alert" }, message),
    h("p", null, h("a", { href: "#/" }, "Back to the ingestions")),
  );
}

function showSignedIn() {
  document.getElementById("nav").hidden = false;
  document.getElementById("session").hidden = false;
}

function showSignedOut() {
  document.getElementById("nav").hidden = true;
  document.getElementById("session").hidden = true;
}

function renderSignIn() {
  const key = input({ type: "password", name: "api_key", autocomplete: "current-password" });
  const form = h(
    "form.panel.signin",
    { novalidate: true, "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Autoloader"),
    h("p.muted", null, "Paste your tenant's API key. `autoloader up` prints it; it stays in this browser tab only."),
    field({ label: "API key", name: "api_key", control: key, required: true }),
    h("div.actions", null, h("button.btn.btn-primary", { type: "submit" }, "Sign in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = form.querySelector(".field-error");
    const value = key.value.trim();
    if (!value) {
      error.textContent = "Enter an API key.";
      key.setAttribute("aria-invalid", "true");
      key.focus();
      return;
    }
    try {
      await api("/dashboard", { key: value });
    } catch (problem) {
      error.textContent =
        problem.status === 401 ? "This API key is not valid (or was revoked). Check it and try again." : problem.message;
      key.setAttribute("aria-invalid", "true");
      key.focus();
      return;
    }
    setApiKey(value);
    route();
  });
  replace(main, form);
  key.focus();
}

function signOut() {
  forgetApiKey();
  toast("Signed out.");
  if (location.hash && location.hash !== "#/") location.hash = "/";
  else route();
}

whenUnauthorized(() => {
  forgetApiKey();
  toast("Your API key was refused; sign in again.", "error");
  route();
});
document.getElementById("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", route);
route();
