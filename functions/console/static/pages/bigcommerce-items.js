// Items (Cart): the store's catalog as items (one per sellable SKU), searched by keyword, those we hold
// marked; the selected ones imported (items and product mappings) a few at a time with a progress bar.
import { get, post, query } from "../api.js";
import { clear, el, money, problems, status } from "../ui.js";
import { inBatches, progressBar, selectableTable } from "./bigcommerce-common.js";

const BATCH = 5; // SKUs per import request
const PAGE_SIZE = 50;
const DONE = new Set(["created", "updated"]);

export async function render(section) {
  const state = { page: 1, keyword: "" };
  const keyword = el("input", { type: "search", name: "keyword", maxlength: 200 });
  const listing = el("div", { id: "cart-items" });
  const form = el(
    "form", { class: "inline", id: "list-cart-items", role: "search", "aria-label": "Store catalog" },
    el("label", {}, "Keyword", keyword),
    el("button", { type: "submit" }, "List Items"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    state.page = 1;
    state.keyword = keyword.value.trim();
    list(listing, state);
  });
  clear(
    section,
    el("h2", { id: "bc-section-title" }, "Items (Cart)"),
    el("p", { class: "muted" }, "The store's catalog, one item per SKU, read without importing it. Importing an item also maps its SKU to the product."),
    form,
    listing,
  );
  await list(listing, state);
}

async function list(listing, state) {
  // Only the latest listing is drawn: an earlier one answering late must not replace it.
  const asked = (state.asked = (state.asked || 0) + 1);
  clear(listing, el("p", { class: "muted", role: "status" }, "Reading the store's catalog…"));
  let answer;
  try {
    answer = await get(`/providers/bigcommerce/items${query({ keyword: state.keyword, page: state.page, limit: PAGE_SIZE })}`);
  } catch (exc) {
    if (asked === state.asked) clear(listing, problems(exc));
    return;
  }
  if (asked !== state.asked) return;
  const items = answer.items || [];
  const skipped = answer.skipped || [];
  const found = state.keyword ? ` matching “${state.keyword}”` : "";
  if (!items.length) {
    clear(listing, el("p", { class: "muted", role: "status" }, `No items${found} in the store's catalog${state.page > 1 ? " on this page" : ""}.`), leftOut(skipped), pager(listing, state, answer));
    return;
  }
  const view = selectableTable({
    caption: `Store items${found} (page ${answer.page}${answer.total_pages ? ` of ${answer.total_pages}` : ""})`,
    allLabel: "Select every item",
    rows: items,
    key: (i) => i.sku,
    rowLabel: (i) => `Select item ${i.sku}`,
    columns: [
      { label: "SKU", value: (i) => i.sku },
      { label: "Name", value: (i) => i.name },
      { label: "Price", value: (i) => money(i.price) },
      { label: "Product", value: (i) => (i.variant_id ? `${i.product_id} (variant ${i.variant_id})` : String(i.product_id ?? "—")) },
      { label: "Imported", value: (i) => (i.imported ? status("imported") : "not imported") },
      { label: "Result", value: () => "" },
    ],
  });
  const progress = progressBar("Item import progress");
  const summary = el("div", { id: "cart-items-result" });
  const importButton = el("button", { type: "button" }, "Import Selected Items");
  importButton.addEventListener("click", async () => {
    const chosen = view.selected();
    clear(summary);
    if (!chosen.length) {
      clear(summary, problems(["Select at least one item to import."]));
      return;
    }
    importButton.disabled = true;
    const counts = {};
    try {
      await inBatches(chosen, BATCH, async (batch) => {
        const answer = await post("/providers/bigcommerce/items/import", { skus: batch });
        for (const result of answer.results || []) {
          counts[result.result] = (counts[result.result] || 0) + 1;
          show(view, result);
        }
      }, {
        progress: (done, total) => progress.set(done, total, "items"),
        failed: (batch, exc) => {
          counts.failed = (counts.failed || 0) + batch.length;
          for (const sku of batch) clear(view.cell(sku, "Result"), status("failed"), " ", exc.message);
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
    leftOut(skipped),
    pager(listing, state, answer),
  );
}

// One item's import result in its row; an item created or updated is now ours, so marked imported.
function show(view, result) {
  if (!result.sku) return;
  const cell = view.cell(result.sku, "Result");
  if (!cell) return;
  clear(cell, status(result.result), result.reason ? ` ${result.reason}` : "");
  if (DONE.has(result.result)) {
    clear(view.cell(result.sku, "Imported"), status("imported"));
    view.box(result.sku).checked = false;
  }
}

// Products that give no item (no SKU, no price) cannot be selected; they are said, with why.
function leftOut(skipped) {
  if (!skipped.length) return null;
  return el(
    "details", { class: "bc-skipped" },
    el("summary", {}, `${skipped.length} product${skipped.length === 1 ? "" : "s"} give no item`),
    el("ul", {}, skipped.map((s) => el("li", {}, `Product ${s.product_id}${s.variant_id ? ` variant ${s.variant_id}` : ""}: ${s.reason}`))),
  );
}

function pager(listing, state, answer) {
  const previous = el("button", { type: "button", class: "secondary", disabled: state.page <= 1 }, "Previous page");
  const next = el("button", { type: "button", class: "secondary", disabled: !answer.has_more }, "Next page");
  previous.addEventListener("click", () => { state.page -= 1; list(listing, state); });
  next.addEventListener("click", () => { state.page += 1; list(listing, state); });
  return el("div", { class: "toolbar bc-pager" }, previous, next);
}
