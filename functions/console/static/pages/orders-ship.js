// The order page's "Ship lines" form: a quantity per line, tracking number and carrier → POST /orders/{key}/shipments.
import { ApiError, post } from "../api.js";
import { clear, el, problems } from "../ui.js";

// BigCommerce's shipping providers (a shipment's carrier); carrier_<id> names a custom one.
const CARRIERS = [
  ["", "None"], ["auspost", "Australia Post"], ["canadapost", "Canada Post"], ["endicia", "Endicia"],
  ["usps", "USPS"], ["fedex", "FedEx"], ["royalmail", "Royal Mail"], ["ups", "UPS"],
  ["upsready", "UPS Ready"], ["shipperhq", "ShipperHQ"],
];
const FIELD_PROBLEM = /^(items\[(\d+)\](?:\.\w+)?|tracking_number|carrier|shipment_id): (.*)$/;

// The form, and `update(order)` to follow the order's lines as they ship (without rebuilding the form).
export function shipForm(orderKey, { onShipped }) {
  const rows = el("tbody");
  const tracking = el("input", { id: "ship-tracking", name: "tracking_number", maxlength: 50, autocomplete: "off" });
  const carrier = el("select", { id: "ship-carrier", name: "carrier", "aria-label": "Carrier" }, CARRIERS.map(([value, label]) => el("option", { value }, label)));
  const outcome = el("div", { id: "ship-outcome", role: "status" });
  const trouble = el("div", { id: "ship-problems" });
  const submit = el("button", { type: "submit" }, "Ship");
  const inputs = new Map();
  let lineNumbers = "";
  // The shipment id of an attempt whose answer was lost: the same request again must not ship twice.
  let retry = null;

  const form = el(
    "form", { id: "ship-lines", class: "panel", "aria-labelledby": "ship-heading", novalidate: true },
    el("h3", { id: "ship-heading" }, "Ship lines"),
    el("table", {},
      el("caption", { class: "sr-only" }, "Quantities to ship per line"),
      el("thead", {}, el("tr", {}, ["Line", "SKU", "Product", "Still to ship", "Quantity to ship"].map((h) => el("th", { scope: "col" }, h)))),
      rows),
    el("div", { class: "toolbar orders-ship-fields" },
      el("label", { for: "ship-tracking" }, "Tracking number", tracking, el("span", { class: "orders-field-problem", id: "ship-tracking-problem" })),
      el("label", { for: "ship-carrier" }, "Carrier", carrier, el("span", { class: "orders-field-problem", id: "ship-carrier-problem" })),
      submit),
    trouble, outcome,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    clear(outcome);
    clearProblems();
    const items = [...inputs.entries()]
      .map(([line, input]) => ({ line_number: line, quantity: input.value.trim() }))
      .filter((item) => item.quantity !== "" && item.quantity !== "0")
      .map((item) => ({ ...item, quantity: /^\d+$/.test(item.quantity) ? Number(item.quantity) : item.quantity }));
    const body = { items, tracking_number: tracking.value.trim(), carrier: carrier.value };
    const signature = JSON.stringify(body);
    const shipmentId = retry && retry.signature === signature ? retry.id : newShipmentId();
    try {
      const shipment = await post(`/orders/${encodeURIComponent(orderKey)}/shipments`, { shipment_id: shipmentId, ...body });
      retry = null;
      for (const input of inputs.values()) input.value = "";
      tracking.value = "";
      const what = shipment.lines.map((l) => `${l.quantity} × ${l.sku || `line ${l.line_number}`}`).join(", ");
      outcome.textContent = `Shipment ${shipment.id} created (${what}); order status ${String(shipment.order_status).replace(/_/g, " ")}.`;
      await onShipped(shipment);
    } catch (exc) {
      // Only a lost answer leaves the outcome unknown; every other refusal recorded nothing to repeat.
      const unknown = !(exc instanceof ApiError) || exc.status === 503;
      retry = unknown ? { signature, id: shipmentId } : null;
      showProblems(exc, items);
    } finally {
      submit.disabled = false;
    }
  });

  function clearProblems() {
    clear(trouble);
    for (const node of form.querySelectorAll(".orders-field-problem")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
  }

  function showProblems(exc, items) {
    const general = [];
    const list = exc instanceof ApiError && exc.problems.length ? exc.problems : [exc.message || String(exc)];
    for (const text of list) {
      const named = FIELD_PROBLEM.exec(text);
      let control = null;
      if (named && named[2] !== undefined) control = inputs.get(items[Number(named[2])]?.line_number);
      else if (named && named[1] === "tracking_number") control = tracking;
      else if (named && named[1] === "carrier") control = carrier;
      if (!control) { general.push(text); continue; }
      control.setAttribute("aria-invalid", "true");
      const note = document.getElementById(control.getAttribute("aria-describedby"));
      note.textContent = note.textContent ? `${note.textContent}; ${named[3]}` : named[3];
    }
    const invalid = form.querySelector("[aria-invalid]");
    const heading = general.length || !invalid ? "The shipment was refused:" : "The shipment was refused: see the fields marked.";
    clear(trouble, el("p", { class: "problems", role: "alert" }, heading), general.length ? problems(general) : null);
    if (invalid) invalid.focus();
  }

  function update(order) {
    const lines = order.lines || [];
    const numbers = lines.map((l) => l.line_number).join(",");
    if (numbers !== lineNumbers) {
      // New lines (an order imported after the page opened): the rows are built again.
      lineNumbers = numbers;
      inputs.clear();
      clear(rows, lines.map((line) => {
        const input = el("input", {
          type: "number", min: 0, step: 1, inputmode: "numeric", id: `ship-line-${line.line_number}`,
          name: `line-${line.line_number}`, "aria-label": `Quantity to ship of line ${line.line_number} (${line.sku || line.name})`,
          "aria-describedby": `ship-line-${line.line_number}-problem`, class: "orders-quantity",
        });
        inputs.set(line.line_number, input);
        return el("tr", { dataset: { line: line.line_number } },
          el("td", {}, String(line.line_number)), el("td", {}, line.sku || "—"), el("td", {}, line.product || line.name),
          el("td", { class: "orders-left" }, ""),
          el("td", {}, input, el("span", { class: "orders-field-problem", id: `ship-line-${line.line_number}-problem` })));
      }));
    }
    for (const line of lines) {
      const left = Math.max(0, line.quantity - line.quantity_shipped);
      const row = rows.querySelector(`tr[data-line="${line.line_number}"]`);
      row.querySelector(".orders-left").textContent = String(left);
      inputs.get(line.line_number).max = String(left);
    }
    form.hidden = !lines.length;
  }

  tracking.setAttribute("aria-describedby", "ship-tracking-problem");
  carrier.setAttribute("aria-describedby", "ship-carrier-problem");
  return { form, update };
}

function newShipmentId() {
  const random = crypto.getRandomValues(new Uint8Array(8));
  return `console-${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}
