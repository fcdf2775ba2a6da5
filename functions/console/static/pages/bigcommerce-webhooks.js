// The store's webhooks: register this deployment's (idempotent), and list them with their state: active,
// whether the secret header matches ours, and which of our scopes have no working hook.
import { base, get, post } from "../api.js";
import { action, clear, el, problems, status, table, when } from "../ui.js";
import { markField } from "./bigcommerce-common.js";

export async function render(section) {
  const destination = el("input", {
    type: "url", name: "destination", required: true, size: 60,
    value: `${location.origin}${base}/webhooks/bigcommerce`,
  });
  const registered = el("div", { id: "webhooks-registered" });
  const listing = el("div", { id: "webhooks-listing" });
  const form = el(
    "form", { class: "inline", id: "register-webhooks" },
    el("label", {}, "Destination", destination),
    el("button", { type: "submit" }, "Register webhooks"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    clear(registered);
    try {
      const answer = await post("/providers/bigcommerce/webhooks", { destination: destination.value.trim() });
      markField(form, null);
      clear(registered, registration(answer));
      await refresh(listing);
    } catch (exc) {
      markField(form, exc);
      clear(registered, problems(exc));
    } finally {
      button.disabled = false;
    }
  });
  clear(
    section,
    el("h2", { id: "bc-section-title" }, "Webhooks"),
    el("p", { class: "muted" }, "BigCommerce calls this address for new and changed orders, shipments and refunds, with our secret header."),
    form,
    registered,
    el("h3", {}, "Hooks in the store"),
    el("div", { class: "toolbar" }, action("Refresh hooks", () => refresh(listing), { cls: "secondary", into: listing })),
    listing,
  );
  await refresh(listing);
}

function registration(answer) {
  const counts = Object.entries(answer.counts || {}).filter(([, n]) => n).map(([what, n]) => `${n} ${what}`);
  return el(
    "div", { role: "status", class: "panel" },
    el("p", {}, `Registered for ${answer.destination}: ${counts.join(", ") || "nothing to do"}.`),
    table({
      caption: "Registration, per scope",
      columns: [
        { label: "Scope", value: (h) => h.scope },
        { label: "Result", value: (h) => status(h.action) },
        { label: "Hook", value: (h) => h.hook_id ?? "—" },
        { label: "Changed", value: (h) => (h.changes || []).join(", ") || "—" },
      ],
      rows: answer.hooks || [],
    }),
  );
}

async function refresh(listing) {
  let answer;
  try {
    answer = await get("/providers/bigcommerce/webhooks");
  } catch (exc) {
    clear(listing, problems(exc));
    return;
  }
  const missing = answer.scopes_missing || [];
  clear(
    listing,
    table({
      caption: "Webhooks registered with the store",
      empty: "The store has no webhooks for this API account.",
      columns: [
        { label: "ID", value: (h) => h.id ?? "—" },
        { label: "Scope", value: (h) => h.scope },
        { label: "Destination", value: (h) => h.destination },
        { label: "State", value: (h) => status(h.is_active ? "active" : "inactive") },
        { label: "Secret", value: (h) => status(h.secret) },
        { label: "Ours", value: (h) => (h.ours ? "yes" : "no") },
        { label: "Updated", value: (h) => stamp(h.updated_at || h.created_at) },
      ],
      rows: answer.hooks || [],
    }),
    missing.length
      ? el("div", { class: "panel bc-missing" }, el("p", {}, el("strong", {}, "Scopes missing: "), "no active hook with our secret for these, so their events do not reach us."), el("ul", { "aria-label": "Scopes missing" }, missing.map((scope) => el("li", {}, scope))))
      : el("p", { class: "bc-ok" }, "Every scope has an active hook with our secret."),
  );
}

// BigCommerce dates its hooks in Unix seconds.
function stamp(value) {
  return typeof value === "number" ? when(value * 1000) : when(value);
}
