// Orders (Cart): the store's orders at a status, listed without importing them (those we hold marked and
// linked to their order page), and the selected ones imported a few at a time with a progress bar.
import { get, post, query } from "../api.js";
import { clear, el, money, problems, status, when } from "../ui.js";
import { inBatches, progressBar, selectableTable, statusLabel, statusSelect } from "./bigcommerce-common.js";

const BATCH = 5; // orders per import request: small enough for the bar to move, few enough requests
const PAGE_SIZE = 50;

export async function render(section) {
  const settings = await get("/settings/bigcommerce").catch(() => ({}));
  const state = { page: 1, statusId: settings.new_order_status_id ?? 11, listed: null };
  const statusControl = statusSelect({ name: "status_id", value: state.statusId });
  const listing = el("div", { id: "cart-orders" });
  const form = el(
    "form", { class: "inline", id: "list-cart-orders" },
    el("label", {}, "Orders with status", statusControl),
    el("button", { type: "submit" }, "List Orders"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.page = 1;
    state.statusId = Number(statusControl.value);
    list(listing, state);
  });
  clear(
    section,
    el("h2", { id: "bc-section-title" }, "Orders (Cart)"),
    el("p", { class: "muted" }, "The store's orders, read without importing them. Import the ones you select: each is imported as its webhook would have."),
    form,
    listing,
  );
  await list(listing, state);
}

async function list(listing, state) {
  // Only the latest listing is drawn: an earlier one answering late must not replace it.
  const asked = (state.asked = (state.asked || 0) + 1);
  clear(listing, el("p", { class: "muted", role: "status" }, "Reading the store's orders…"));
  let answer;
  try {
    answer = await get(`/providers/bigcommerce/orders${query({ status_id: state.statusId, page: state.page, limit: PAGE_SIZE })}`);
  } catch (exc) {
    if (asked === state.asked) clear(listing, problems(exc));
    return;
  }
  if (asked !== state.asked) return;
  const orders = answer.orders || [];
  if (!orders.length) {
    clear(listing, el("p", { class: "muted", role: "status" }, `The store has no orders at ${statusLabel(state.statusId)}${state.page > 1 ? " on this page" : ""}.`), pager(listing, state, answer));
    return;
  }
  const view = selectableTable({
    caption: `Store orders at ${statusLabel(state.statusId)} (page ${answer.page})`,
    allLabel: "Select every order not imported yet",
    rows: orders,
    key: (o) => o.id,
    rowLabel: (o) => `Select order ${o.id}`,
    selectable: (o) => !o.imported,
    columns: [
      { label: "Order", value: (o) => String(o.id) },
      { label: "Status", value: (o) => o.status || statusLabel(o.status_id) },
      { label: "Customer", value: (o) => o.customer_name || "—" },
      { label: "Total", value: (o) => money(o.total_inc_tax, o.currency) },
      { label: "Created", value: (o) => when(o.date_created) },
      { label: "Imported", value: (o) => imported(o) },
      { label: "Result", value: () => "" },
    ],
  });
  const progress = progressBar("Order import progress");
  const summary = el("div", { id: "cart-orders-result" });
  const importButton = el("button", { type: "button" }, "Import Selected Orders");
  importButton.addEventListener("click", async () => {
    const chosen = view.selected();
    clear(summary);
    if (!chosen.length) {
      clear(summary, problems(["Select at least one order to import."]));
      return;
    }
    importButton.disabled = true;
    const counts = {};
    try {
      await inBatches(chosen, BATCH, async (batch) => {
        const answer = await post("/providers/bigcommerce/orders/import", { order_ids: batch });
        for (const result of answer.results || []) {
          counts[result.result] = (counts[result.result] || 0) + 1;
          show(view, result);
        }
      }, {
        progress: (done, total) => progress.set(done, total, "orders"),
        failed: (batch, exc) => {
          counts.failed = (counts.failed || 0) + batch.length;
          for (const id of batch) clear(view.cell(id, "Result"), status("failed"), " ", exc.message);
        },
      });
      const said = Object.entries(counts).map(([what, n]) => `${n} ${what.replace(/_/g, " ")}`).join(", ");
      clear(summary, el("p", { role: counts.failed ? "alert" : "status" }, `Import finished: ${said}.`));
    } catch (exc) {
      clear(summary, problems(exc));
    } finally {
      importButton.disabled = false;
    }
  });
  clear(
    listing,
    el("div", { class: "toolbar" }, importButton, progress.node),
    summary,
    view.node,
    pager(listing, state, answer),
  );
}

function imported(order) {
  if (!order.order_key) return "not imported";
  const link = el("a", { href: `#/orders/${encodeURIComponent(order.order_key)}` }, order.order_key);
  return order.imported ? link : el("span", {}, link, " ", status(order.our_status));
}

// One order's import result in its row: the result and its message; an accepted order links to its page.
function show(view, result) {
  const cell = view.cell(result.order_id, "Result");
  if (!cell) return;
  clear(cell, status(result.result), " ", result.message || "");
  if (result.order_key && (result.result === "accepted" || result.result === "already_imported")) {
    clear(view.cell(result.order_id, "Imported"), el("a", { href: `#/orders/${encodeURIComponent(result.order_key)}` }, result.order_key));
    const box = view.box(result.order_id);
    box.checked = false;
    box.disabled = true;
  }
}

function pager(listing, state, answer) {
  const previous = el("button", { type: "button", class: "secondary", disabled: state.page <= 1 }, "Previous page");
  const next = el("button", { type: "button", class: "secondary", disabled: !answer.has_more }, "Next page");
  previous.addEventListener("click", () => { state.page -= 1; list(listing, state); });
  next.addEventListener("click", () => { state.page += 1; list(listing, state); });
  return el("div", { class: "toolbar bc-pager" }, previous, next);
}
