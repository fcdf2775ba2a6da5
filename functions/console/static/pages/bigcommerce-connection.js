// The connection to the store: its hash (fixed when the stack is deployed) and the connection test,
// whose result is shown in the API's own words.
import { post, get } from "../api.js";
import { action, clear, el } from "../ui.js";

export async function render(section) {
  const settings = await get("/settings/bigcommerce");
  const result = el("div", { id: "connection-result", class: "bc-result" });
  const test = action("Test Connection", async () => {
    clear(result, el("p", { role: "status", class: "muted" }, "Testing the connection…"));
    clear(result, outcome(await post("/providers/bigcommerce/test-connection")));
  }, { into: result });
  clear(
    section,
    el("h2", { id: "bc-section-title" }, "Connection"),
    el(
      "div", { class: "toolbar" },
      el("label", {}, "Store hash", el("input", { type: "text", value: settings.store_hash, readonly: true, size: 24, "aria-describedby": "store-hash-note" })),
    ),
    el("p", { class: "muted", id: "store-hash-note" }, "The store is chosen when the stack is deployed (parameter BigCommerceStoreHash)."),
    el("div", { class: "toolbar" }, test),
    result,
  );
}

// A passed test says so with the store it reached; a failed one is an alert with the cause and what to check.
function outcome(answer) {
  if (answer.passed) {
    const store = answer.store || {};
    return el(
      "div", { role: "status", class: "panel bc-passed" },
      el("p", {}, el("strong", {}, answer.result)),
      store.name || store.domain ? el("p", {}, [store.name, store.domain].filter(Boolean).join(" — ")) : null,
    );
  }
  return el(
    "div", { role: "alert", class: "panel bc-failed" },
    el("p", {}, el("strong", {}, answer.result)),
    answer.message ? el("p", {}, answer.message) : null,
    answer.cause ? el("p", { class: "muted" }, `Cause: ${answer.cause.replace(/_/g, " ")}`) : null,
  );
}
