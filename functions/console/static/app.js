// The console's router: #/<page>/<rest>; each page module exports render(main, params) and may return
// a function that stops what it started (polling) when the operator leaves the page.
import { ensureSignedIn, signOut, mode } from "./auth.js";
import { clear, el, problems } from "./ui.js";

const PAGES = {
  orders: () => import("./pages/orders.js"),
  flows: () => import("./pages/flows.js"),
  policies: () => import("./pages/policies.js"),
  mappings: () => import("./pages/mappings.js"),
  bigcommerce: () => import("./pages/bigcommerce.js"),
  fulfillment: () => import("./pages/fulfillment.js"),
  health: () => import("./pages/health.js"),
};

let leave = null;

async function route() {
  const main = document.getElementById("main");
  const [page = "orders", ...rest] = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === `#/${page}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (leave) { leave(); leave = null; }
  const load = PAGES[page];
  if (!load) {
    clear(main, el("h1", {}, "Not found"), el("p", {}, `There is no page “${page}”.`));
    return;
  }
  clear(main, el("p", { class: "muted" }, "Loading…"));
  try {
    const module = await load();
    const stop = await module.render(main, rest);
    if (typeof stop === "function") leave = stop;
  } catch (exc) {
    clear(main, el("h1", {}, "Something went wrong"), problems(exc));
  }
  main.focus({ preventScroll: true });
}

async function start() {
  await ensureSignedIn(document.getElementById("main"));
  const out = document.getElementById("sign-out");
  out.hidden = false;
  out.textContent = (await mode()) === "token" ? "Forget token" : "Sign out";
  out.addEventListener("click", () => { signOut(); location.reload(); });
  document.addEventListener("console:unauthorised", () => { signOut(); location.reload(); }, { once: true });
  if (!location.hash) location.hash = "#/orders";
  window.addEventListener("hashchange", route);
  await route();
}

start();
