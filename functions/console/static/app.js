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
let current = 0; // the latest navigation: a slower, older one must not draw over it

async function route() {
  const main = document.getElementById("main");
  const mine = ++current;
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
  // Each page draws into its own container, put in place only if no newer navigation began meanwhile.
  const target = el("div", { class: "page" });
  try {
    const module = await load();
    const stop = await module.render(target, rest);
    if (mine !== current) {
      if (typeof stop === "function") stop();
      return;
    }
    if (typeof stop === "function") leave = stop;
  } catch (exc) {
    if (mine !== current) return;
    clear(target, el("h1", {}, "Something went wrong"), problems(exc));
  }
  clear(main, target);
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
