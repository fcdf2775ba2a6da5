// The order page: header, customer, addresses, lines, timeline, fulfillment orders, shipments, returns and actions.
import { ApiError, get, post, query } from "../api.js";
import { clear, el, money, poll, problems, status, table, when } from "../ui.js";
import { keepingFocus, storeOrderId } from "./orders-common.js";
import { shipForm } from "./orders-ship.js";
import { timeline, timelineList } from "./orders-timeline.js";

const REFRESH_MS = 1500;
const FULFILLMENT_STATES = ["created", "sent", "shipped", "cancelled", "failed"];
// Shipments made from this tab, by order key: the API lists no shipments, so their details are kept here.
const shippedHere = new Map();

export async function renderOrder(main, orderKey) {
  let order;
  try {
    order = await get(`/orders/${encodeURIComponent(orderKey)}`);
  } catch (exc) {
    if (exc instanceof ApiError && exc.status === 404) {
      clear(main, el("h1", {}, "Order not found"), problems(exc), el("p", {}, el("a", { href: "#/orders" }, "Back to the orders")));
      return null;
    }
    throw exc;
  }

  const sections = {};
  const section = (id, title, { before = null, after = null } = {}) => {
    sections[id] = el("div", { id: `order-${id}-body` });
    return el("section", { id: `order-${id}`, "aria-labelledby": `order-${id}-heading` },
      el("h2", { id: `order-${id}-heading` }, title), before, sections[id], after);
  };
  const title = el("span");
  const badge = el("span", { id: "order-status" });
  const refreshed = el("p", { id: "order-refreshed", class: "muted sr-only", role: "status" });
  const resubmitOutcome = el("div", { id: "resubmit-outcome", role: "status" });
  const resubmit = el("button", { type: "button", id: "resubmit" }, "Resubmit");
  const latestLink = el("span", { id: "order-console-link" });
  const ship = shipForm(orderKey, { onShipped: (shipment) => { remember(shipment); return tick(); } });

  clear(main,
    el("p", {}, el("a", { href: "#/orders" }, "← Orders")),
    el("h1", { class: "orders-title" }, title, " ", badge),
    el("div", { class: "toolbar", role: "group", "aria-label": "Order actions" }, resubmit, latestLink),
    resubmitOutcome,
    refreshed,
    section("summary", "Summary"),
    section("customer", "Customer and addresses"),
    section("lines", "Lines"),
    section("timeline", "Timeline", { before: el("p", { class: "muted" }, "Status changes and step results as they happen, per execution; this page keeps itself up to date.") }),
    section("fulfillment", "Fulfillment orders"),
    section("shipments", "Shipments", { after: ship.form }),
    section("returns", "Returns"),
  );

  resubmit.addEventListener("click", async () => {
    resubmit.disabled = true;
    clear(resubmitOutcome);
    try {
      const answer = await post(`/orders/${encodeURIComponent(orderKey)}/resubmit`);
      clear(resubmitOutcome, el("p", { class: "orders-outcome" }, resubmitted(answer)));
      await tick();
    } catch (exc) {
      clear(resubmitOutcome, problems(exc));
    } finally {
      resubmit.disabled = false;
    }
  });

  let executions = [];
  let executionNames = "";
  let executionsRoute = true;
  let fulfillmentRoute = true;
  let revision = null;
  const shown = {};
  let steps = -1;

  // Each part is drawn again only when what it shows changed, keeping focus and scroll where they were.
  function show(id, data, build) {
    const signature = JSON.stringify(data);
    if (shown[id] === signature) return;
    shown[id] = signature;
    keepingFocus(sections[id] || main, () => build(sections[id]));
  }

  function remember(shipment) {
    const mine = shippedHere.get(orderKey) || new Map();
    mine.set(shipment.id, shipment);
    shippedHere.set(orderKey, mine);
  }

  async function loadExecutions(current) {
    const names = [...new Set(current.step_results.map((s) => s.execution).filter(Boolean))].join(",");
    if (!executionsRoute || names === executionNames) return;
    try {
      executions = (await get(`/orders/${encodeURIComponent(orderKey)}/executions`)).executions || [];
      executionNames = names;
    } catch (exc) {
      // A stack without the executions route still shows the timeline, without console links.
      if (exc instanceof ApiError && exc.status === 404 && !exc.code) executionsRoute = false;
      else throw exc;
    }
  }

  async function loadFulfillment() {
    if (!fulfillmentRoute) return null;
    try {
      // Fulfillment orders are listed by state only: this order's are picked from each state's newest.
      const pages = await Promise.all(FULFILLMENT_STATES.map((state) => get(`/fulfillment-orders${query({ status: state, limit: 200 })}`)));
      return pages.flatMap((p) => p.fulfillment_orders || []).filter((fo) => fo.order_key === orderKey);
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 404 && !exc.code) { fulfillmentRoute = false; return null; }
      throw exc;
    }
  }

  async function tick() {
    const current = await get(`/orders/${encodeURIComponent(orderKey)}`);
    await loadExecutions(current);
    const changed = current.record_version !== revision || current.updated_at !== order.updated_at;
    order = current;
    drawHeader(current);
    if (changed || shown.returns === undefined) {
      revision = current.record_version;
      const [returns, fulfillment] = await Promise.all([
        get(`/orders/${encodeURIComponent(orderKey)}/returns`).then((r) => r.returns).catch(() => null),
        loadFulfillment(),
      ]);
      show("returns", returns, (node) => clear(node, returnsTable(returns)));
      show("fulfillment", fulfillment, (node) => clear(node, fulfillmentTable(fulfillment)));
    }
    const entries = timeline(current.history, current.step_results, executions);
    show("timeline", entries, (node) => clear(node, timelineList(entries)));
    show("shipments", [current.history, [...(shippedHere.get(orderKey) || new Map()).values()]], (node) => clear(node, shipmentsTable(current)));
    ship.update(current);
    if (steps >= 0 && current.step_results.length > steps) {
      const added = current.step_results.length - steps;
      refreshed.textContent = `${added} new step result${added === 1 ? "" : "s"}.`;
    }
    steps = current.step_results.length;
  }

  function drawHeader(current) {
    title.textContent = `Order ${current.import_id || current.order_key}`;
    show("badge", current.status, () => clear(badge, status(current.status)));
    show("summary", summaryData(current), (node) => clear(node, facts(summaryData(current))));
    show("customer", [current.customer, current.billing_address, current.ship_to], (node) => clear(node, people(current)));
    show("lines", [current.lines, current.mapping_issues], (node) => clear(node, linesTable(current)));
    const withLink = [...executions].reverse().find((e) => e.console_url);
    show("link", withLink?.console_url || "", () => clear(latestLink, withLink ? el("a", {
      href: withLink.console_url, target: "_blank", rel: "noopener noreferrer", id: "order-console-link-a",
    }, "Open in Step Functions", el("span", { class: "sr-only" }, ` (latest execution, ${withLink.name})`)) : null));
  }

  await tick();
  return poll(tick, REFRESH_MS);
}

function resubmitted(answer) {
  const failed = answer.failed_step;
  if (failed && typeof failed === "object") {
    const from = `${failed.step} (${failed.flow_id} v${failed.flow_version})`;
    const said = failed.message ? `, which failed with “${failed.message}”` : "";
    return `Resubmitted from step ${from}${said}: execution ${answer.execution} resumes at ${answer.resume_at}; order status ${String(answer.order_status || "").replace(/_/g, " ")}.`;
  }
  const started = (answer.executions || []).length ? ` Started: ${answer.executions.join(", ")}.` : "";
  return `Resubmitted from step ${failed || "import"}: ${answer.message || "imported again"}.${started}`;
}

function summaryData(order) {
  const currency = order.currency;
  return [
    ["Status", order.status.replace(/_/g, " ")],
    ["Import ID", order.import_id],
    ["Source", order.source_code ? `${order.source} (${order.source_code})` : order.source],
    ["Store order id", storeOrderId(order)],
    ["Store status", order.external_status || (order.external_status_id ?? "—")],
    ["Subtotal (ex tax)", money(order.subtotal_ex_tax, currency)],
    ["Tax", money(order.total_tax, currency)],
    ["Total", money(order.total_inc_tax, currency)],
    ["Payment", order.payment_method || "—"],
    ["Mapping group", order.mapping_group || "—"],
    ["Account", order.account || "—"],
    ["Price list", order.price_list || "—"],
    ["Placed", when(order.placed_at)],
    ["Received", when(order.received_at)],
    ["Imported", when(order.imported_at)],
    ["Updated", when(order.updated_at)],
    order.is_manual ? ["Entered by hand", order.cloned_from ? `clone of ${order.cloned_from}` : "yes"] : null,
    order.import_error ? ["Import error", order.import_error] : null,
    order.next_attempt_at ? ["Next import attempt", when(order.next_attempt_at)] : null,
  ].filter(Boolean);
}

function facts(pairs) {
  return el("dl", { class: "orders-facts" }, pairs.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, String(value ?? "—")))));
}

function people(order) {
  const customer = order.customer || {};
  const name = [customer.first_name, customer.last_name].filter(Boolean).join(" ");
  return el("div", { class: "grid" },
    el("div", { class: "panel" }, el("h3", {}, "Customer"), facts([
      ["Name", name || "—"], ["Company", customer.company || "—"], ["E-mail", customer.email || "—"],
      ["BigCommerce customer id", customer.external_id || "guest"], ["Customer record", customer.record_id || "—"],
    ])),
    el("div", { class: "panel" }, el("h3", {}, "Billing address"), address(order.billing_address)),
    (order.ship_to || []).map((to, index) => el("div", { class: "panel" },
      el("h3", {}, order.ship_to.length > 1 ? `Ship to (${index + 1})` : "Ship to"), address(to))),
  );
}

function address(a) {
  if (!a) return el("p", { class: "muted" }, "None.");
  const lines = [
    [a.first_name, a.last_name].filter(Boolean).join(" "), a.company, a.street_1, a.street_2,
    [a.zip, a.city].filter(Boolean).join(" "), a.state, a.country, a.phone, a.email,
    a.shipping_method ? `Shipping: ${a.shipping_method}` : "",
  ].filter(Boolean);
  return lines.length ? el("address", {}, lines.flatMap((line, i) => (i ? [el("br"), line] : [line]))) : el("p", { class: "muted" }, "None.");
}

function linesTable(order) {
  const issues = (order.mapping_issues || []).filter((i) => !(order.lines || []).some((l) => l.mapping_issues?.some((m) => m.message === i.message)));
  return [
    issues.length ? el("div", { class: "panel" }, el("h3", {}, "Mapping issues"), problems(issues.map((i) => `${i.kind} ${i.field} “${i.value}”: ${i.message}`))) : null,
    table({
      caption: "Order lines",
      empty: order.status === "pending_import" || order.status === "import_failed" ? "The order is not imported yet: its lines come with its import." : "No lines.",
      rows: order.lines || [],
      columns: [
        { label: "Line", value: (l) => String(l.line_number) },
        { label: "SKU", value: (l) => l.sku || "—" },
        { label: "Product", value: (l) => [l.product || el("span", { class: "muted" }, "not mapped"), l.name && l.name !== l.product ? el("div", { class: "muted" }, l.name) : null] },
        { label: "Unit", value: (l) => l.unit || el("span", { class: "muted" }, `${l.external_unit} (not mapped)`) },
        { label: "Ordered", value: (l) => String(l.quantity) },
        { label: "Shipped", value: (l) => String(l.quantity_shipped) },
        { label: "Returned", value: (l) => String(l.quantity_returned) },
        { label: "Refunded", value: (l) => String(l.quantity_refunded) },
        { label: "Unit price", value: (l) => money(l.unit_price, order.currency) },
        { label: "Total", value: (l) => money(l.total_inc_tax, order.currency) },
        { label: "Mapping issues", value: (l) => (l.mapping_issues?.length ? el("ul", { class: "problems" }, l.mapping_issues.map((m) => el("li", {}, m.message))) : "—") },
      ],
    }),
  ];
}

function fulfillmentTable(found) {
  if (found === null) return el("p", { class: "muted" }, "This stack does not list fulfillment orders.");
  return table({
    caption: "Fulfillment orders",
    empty: "No fulfillment orders.",
    rows: found,
    columns: [
      { label: "Fulfillment order", value: (fo) => fo.id },
      { label: "Status", value: (fo) => status(fo.status) },
      { label: "Source", value: (fo) => fo.source_id },
      { label: "Lines", value: (fo) => (fo.lines || []).map((l) => `${l.quantity} × ${l.sku || `line ${l.line_number}`}`).join(", ") },
      { label: "Provider", value: (fo) => [fo.provider, fo.provider_reference].filter(Boolean).join(" · ") || "—" },
      { label: "Tracking", value: (fo) => [fo.carrier, fo.tracking_number].filter(Boolean).join(" ") || "—" },
      { label: "Updated", value: (fo) => when(fo.updated_at || fo.created_at) },
    ],
  });
}

// The API lists no shipments: those that moved the order's status are named by its history, and those
// made from this tab are shown whole.
function shipmentsTable(order) {
  const mine = shippedHere.get(order.order_key) || new Map();
  const rows = new Map();
  for (const entry of order.history || []) {
    const named = /^shipment (\S+)$/.exec(entry.reason || "");
    if (named && !rows.has(named[1])) rows.set(named[1], { id: named[1], at: entry.at, order_status: entry.status });
  }
  for (const shipment of mine.values()) rows.set(shipment.id, { ...rows.get(shipment.id), ...shipment, at: shipment.created_at });
  const shipped = (order.lines || []).reduce((n, l) => n + l.quantity_shipped, 0);
  const ordered = (order.lines || []).reduce((n, l) => n + l.quantity, 0);
  return [
    el("p", {}, `${shipped} of ${ordered} units shipped.`),
    table({
      caption: "Shipments",
      empty: "No shipments yet.",
      rows: [...rows.values()].sort((a, b) => (a.at < b.at ? -1 : 1)),
      columns: [
        { label: "Shipment", value: (s) => s.id },
        { label: "When", value: (s) => when(s.at) },
        { label: "Lines", value: (s) => (s.lines ? s.lines.map((l) => `${l.quantity} × ${l.sku || `line ${l.line_number}`}`).join(", ") : "—") },
        { label: "Tracking", value: (s) => [s.carrier, s.tracking_number].filter(Boolean).join(" ") || "—" },
        { label: "BigCommerce shipments", value: (s) => (s.bigcommerce_shipment_ids?.length ? s.bigcommerce_shipment_ids.join(", ") : "—") },
        { label: "Order status after", value: (s) => status(s.order_status) },
      ],
    }),
  ];
}

function returnsTable(returns) {
  if (returns === null) return el("p", { class: "muted" }, "The returns could not be read.");
  return table({
    caption: "Returns",
    empty: "No returns.",
    rows: returns,
    columns: [
      { label: "Return", value: (r) => r.return_id },
      { label: "Status", value: (r) => [status(r.status), r.on_hold ? " on hold" : ""] },
      { label: "Resolution", value: (r) => r.resolution },
      { label: "Lines", value: (r) => (r.lines || []).map((l) => `${l.quantity} × ${l.sku || `line ${l.line_number}`}${l.reason ? ` (${l.reason})` : ""}`).join(", ") },
      { label: "Value", value: (r) => r.value },
      { label: "Requested", value: (r) => when(r.requested_at || r.created_at) },
    ],
  });
}
