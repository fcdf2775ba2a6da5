// The BigCommerce page: connection, webhooks, settings, and the store's orders and items to import,
// each a section of its own (#/bigcommerce/<section>) reached through the page's local navigation.
import { clear, el } from "../ui.js";

const SECTIONS = [
  { slug: "connection", label: "Connection", load: () => import("./bigcommerce-connection.js") },
  { slug: "webhooks", label: "Webhooks", load: () => import("./bigcommerce-webhooks.js") },
  { slug: "settings", label: "Settings", load: () => import("./bigcommerce-settings.js") },
  { slug: "orders", label: "Orders (Cart)", load: () => import("./bigcommerce-orders.js") },
  { slug: "items", label: "Items (Cart)", load: () => import("./bigcommerce-items.js") },
];

export async function render(main, params) {
  const [slug = SECTIONS[0].slug] = params;
  const current = SECTIONS.find((section) => section.slug === slug);
  const nav = el(
    "nav", { "aria-label": "BigCommerce sections", class: "bc-sections" },
    el("ul", {}, SECTIONS.map((section) => el(
      "li", {},
      el("a", { href: `#/bigcommerce/${section.slug}`, "aria-current": section === current ? "page" : null }, section.label),
    ))),
  );
  const body = el("section", { "aria-labelledby": "bc-section-title", class: "bc-section" });
  clear(main, el("h1", {}, "BigCommerce"), nav, body);
  if (!current) {
    clear(body, el("h2", { id: "bc-section-title" }, "Not found"), el("p", {}, `There is no BigCommerce section “${slug}”.`));
    return undefined;
  }
  const module = await current.load();
  return module.render(body);
}
