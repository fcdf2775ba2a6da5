// Orders (issue 18): the list with its filters and search (#/orders), and the order page (#/orders/<key>).
import { ApiError, get, query } from "../api.js";
import { clear, el, money, poll, problems, status, table, when } from "../ui.js";
import { keepingFocus, orderStatuses, storeOrderId } from "./orders-common.js";

// The filters outlive the page, so that coming back from an order shows the same list.
const filters = { status: "", on_hold: false, pending_import: false, import_failed: false, flow: "", external_id: "" };
const PAGE_SIZE = 50;
const REFRESH_MS = 3000;

export async function render(main, params = []) {
  if (params.length && params[0]) {
    const { renderOrder } = await import("./orders-order.js");
    return renderOrder(main, params.join("/"));
  }
  return renderList(main);
}

async function renderList(main) {
  const [statuses, flows] = await Promise.all([orderStatuses(), flowChoices()]);
  const results = el("div", { id: "orders-results" });
  const summary = el("p", { id: "orders-summary", role: "status", class: "muted" });
  const trouble = el("div", { id: "orders-problems" });
  // cursors[i] is the cursor of page i (page 0 has none); the last entry is the page shown.
  let cursors = [null];
  let nextCursor = null;
  let shown = "";

  const statusSelect = el(
    "select", { id: "orders-status", name: "status", "aria-label": "Status" },
    el("option", { value: "" }, "Any status"),
    statuses.map((s) => el("option", { value: s, selected: s === filters.status }, s.replace(/_/g, " "))),
  );
  const flowSelect = el(
    "select", { id: "orders-flow", name: "flow", "aria-label": "Flow" },
    el("option", { value: "" }, "Any flow"),
    flows.map((f) => el("option", { value: f.id, selected: f.id === filters.flow }, f.name)),
  );
  const checks = [
    ["on_hold", "On hold"], ["pending_import", "Pending import"], ["import_failed", "Import failed"],
  ].map(([name, label]) => [name, el("input", { type: "checkbox", id: `orders-${name}`, name, checked: filters[name] }), label]);
  const search = el("input", {
    type: "search", id: "orders-external-id", name: "external_id", inputmode: "numeric",
    autocomplete: "off", value: filters.external_id, "aria-describedby": "orders-search-hint orders-problems",
  });

  const form = el(
    "form", { class: "inline orders-filters", role: "search", "aria-label": "Filter orders", novalidate: true },
    el("label", { for: "orders-status" }, "Status", statusSelect),
    checks.map(([, input, label]) => el("label", { class: "check" }, input, label)),
    el("label", { for: "orders-flow" }, "Flow", flowSelect),
    el("label", { for: "orders-external-id" }, "BigCommerce order id", search),
    el("button", { type: "submit" }, "Search"),
    el("button", { type: "button", class: "secondary", onclick: reset }, "Clear filters"),
    el("p", { id: "orders-search-hint", class: "muted orders-hint" }, "A BigCommerce order id finds that order alone; the other filters are then left aside."),
  );
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  for (const control of [statusSelect, flowSelect, ...checks.map(([, input]) => input)]) {
    control.addEventListener("change", apply);
  }

  const previous = el("button", { type: "button", class: "secondary", onclick: () => turn(-1) }, "Previous page");
  const next = el("button", { type: "button", class: "secondary", onclick: () => turn(1) }, "Next page");
  const paging = el("nav", { class: "toolbar", "aria-label": "Pages of orders" }, previous, next);

  clear(main, el("h1", {}, "Orders"), form, trouble, summary, results, paging);

  function read() {
    filters.status = statusSelect.value;
    filters.flow = flowSelect.value;
    filters.external_id = search.value.trim();
    for (const [name, input] of checks) filters[name] = input.checked;
  }

  function reset() {
    statusSelect.value = "";
    flowSelect.value = "";
    search.value = "";
    for (const [, input] of checks) input.checked = false;
    apply();
  }

  function apply() {
    read();
    cursors = [null];
    load({ announce: true });
  }

  function turn(step) {
    if (step > 0 && nextCursor) cursors.push(nextCursor);
    if (step < 0 && cursors.length > 1) cursors.pop();
    load({ announce: true });
  }

  async function load({ announce = false } = {}) {
    const cursor = cursors[cursors.length - 1];
    let answer;
    try {
      answer = await get(`/orders${listQuery(cursor)}`);
    } catch (exc) {
      if (!(exc instanceof ApiError) || exc.status >= 500 || exc.status === 401) throw exc;
      search.setAttribute("aria-invalid", exc.field === "external_id" ? "true" : "false");
      // Said once: the refresh asks again and would otherwise announce the same problem every time.
      if (trouble.textContent !== (exc.problems.length ? exc.problems : [exc.message]).join("")) clear(trouble, problems(exc));
      clear(results);
      summary.textContent = "";
      shown = "";
      return;
    }
    search.removeAttribute("aria-invalid");
    clear(trouble);
    nextCursor = answer.next_cursor;
    previous.disabled = cursors.length <= 1;
    next.disabled = !nextCursor;
    // Not `hidden`: the toolbar class sets its display.
    paging.style.display = cursors.length <= 1 && !nextCursor ? "none" : "";
    const signature = JSON.stringify(answer);
    if (signature === shown && !announce) return;
    shown = signature;
    keepingFocus(results, () => clear(results, ordersTable(answer.orders)));
    const count = answer.orders.length;
    const page = cursors.length > 1 ? ` (page ${cursors.length})` : "";
    const more = nextCursor ? "; more on the next page" : "";
    const text = count ? `${count} order${count === 1 ? "" : "s"}${page}${more}` : `No orders match${more}.`;
    if (announce || summary.textContent !== text) summary.textContent = text;
  }

  await load();
  // New orders arrive by themselves (webhooks, syncs): the page keeps up with them.
  return poll(() => load(), REFRESH_MS);
}

function listQuery(cursor) {
  const external = filters.external_id;
  if (external) return query({ external_id: external });
  return query({
    status: filters.status, on_hold: filters.on_hold, pending_import: filters.pending_import,
    import_failed: filters.import_failed, flow: filters.flow, limit: PAGE_SIZE, cursor,
  });
}

function ordersTable(orders) {
  return table({
    caption: "Orders, newest first",
    empty: "No orders match these filters.",
    rows: orders,
    columns: [
      { label: "Order", value: (o) => el("a", { href: `#/orders/${encodeURIComponent(o.order_key)}`, dataset: { key: `order:${o.order_key}` } }, o.import_id || o.order_key) },
      { label: "Status", value: (o) => status(o.status) },
      { label: "Source", value: (o) => o.source_code ? `${o.source} (${o.source_code})` : o.source },
      { label: "Store order id", value: (o) => storeOrderId(o) },
      { label: "Total", value: (o) => money(o.total_inc_tax, o.currency) },
      { label: "Created", value: (o) => when(o.placed_at || o.received_at || o.imported_at) },
    ],
  });
}

async function flowChoices() {
  try {
    const answer = await get("/flows");
    return (answer.flows || []).map((f) => ({ id: f.id, name: `${f.name} (${f.id})` }));
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 401) throw exc;
    return [];
  }
}
