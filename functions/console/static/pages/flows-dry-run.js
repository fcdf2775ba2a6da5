// A flow's dry run: a stored order (by its key) or a pasted BigCommerce order through the flow, path shown step by step.
import { get, post, query } from "../api.js";
import { clear, el, status, table } from "../ui.js";
import { actionButton } from "./flows-problems.js";

function parsed(text, label) {
  try {
    return JSON.parse(text);
  } catch (exc) {
    throw new Error(`${label} is not JSON: ${exc.message}`);
  }
}

function stepCell(entry) {
  return entry.kind === "branch" ? el("strong", {}, entry.step) : entry.step;
}

function messageCell(entry) {
  return el("span", {}, entry.message || "", entry.reason ? el("span", { class: "muted" }, ` — ${entry.reason}`) : null);
}

export function showResult(into, result) {
  clear(
    into,
    el("p", {}, "Outcome: ", status(result.outcome), ` ${result.message} (order ${result.order_key}, event ${result.event}).`),
    table({
      caption: "Path, step by step",
      columns: [
        { label: "Step", value: stepCell },
        { label: "Branch", value: (e) => e.branch || "—" },
        { label: "Kind", value: (e) => e.kind.replace(/_/g, " ") },
        { label: "Outcome", value: (e) => status(e.outcome) },
        { label: "Message", value: messageCell },
      ],
      rows: result.steps,
      empty: "The flow has no step this order reaches.",
    }),
  );
}

// The form and its result, for the flow `flow` (as GET /flows/{id} answers it).
export async function dryRunSection(flow) {
  const result = el("div", { id: "dry-run-result", role: "status" });
  const failure = el("div", { id: "dry-run-problems" });
  const stored = el("input", { id: "dry-run-order-key", name: "order_key", list: "dry-run-order-keys", autocomplete: "off" });
  const keys = el("datalist", { id: "dry-run-order-keys" });
  const pasted = el("textarea", { id: "dry-run-order", name: "order", rows: 10, placeholder: '{"id": 250, "products": [...], "shipping_addresses": [...], ...}' });
  const choose = (value, checked) => el("input", { type: "radio", name: "dry-run-source", value, checked });
  const byKey = choose("stored", true);
  const byPaste = choose("pasted", false);
  const storedField = el("label", {}, "Order key", stored, keys);
  const pastedField = el("label", { hidden: true }, "BigCommerce order (JSON, with its products and shipping addresses)", pasted);
  for (const radio of [byKey, byPaste]) {
    radio.addEventListener("change", () => {
      storedField.hidden = !byKey.checked;
      pastedField.hidden = byKey.checked;
    });
  }
  const events = el("select", { id: "dry-run-event", name: "event" }, (flow.input_events || []).map((e) => el("option", { value: e }, e.replace(/_/g, " "))));
  const isReturn = flow.type === "return_orchestration";
  const ret = el("textarea", { id: "dry-run-return", name: "return", rows: 4, placeholder: '{"lines": [{"line_number": 1, "quantity": 1, "reason": "damaged"}]} or {"return_id": "..."}' });

  async function run() {
    clear(result);
    let order;
    if (byKey.checked) {
      const key = stored.value.trim();
      if (!key) throw new Error("Give the key of a stored order (or paste a BigCommerce order).");
      order = await get(`/orders/${encodeURIComponent(key)}`);
      delete order.step_results; // the order as it is; its past results play no part in a dry run
    } else {
      order = parsed(pasted.value, "The pasted order");
    }
    const body = { order, event: events.value || undefined };
    if (isReturn && ret.value.trim()) body.return = parsed(ret.value, "The return");
    showResult(result, await post(`/flows/${encodeURIComponent(flow.id)}/dry-run`, body));
  }

  // Suggestions only: a key typed by hand works as well.
  get(`/orders${query({ limit: 25 })}`)
    .then((answer) => keys.replaceChildren(...(answer.orders || []).map((o) => el("option", { value: o.order_key }, `${o.status} ${o.external_id ?? ""}`))))
    .catch(() => {});

  return el(
    "section", { class: "dry-run", "aria-labelledby": "dry-run-heading" },
    el("h2", { id: "dry-run-heading" }, "Dry run"),
    el("p", { class: "muted" }, "Runs an order through this flow's logic and shows where each path would stop, and why. Nothing is written."),
    el(
      "div", { class: "panel" },
      el("fieldset", { class: "toolbar" }, el("legend", {}, "Run on"),
        el("label", { class: "check" }, byKey, "A stored order"),
        el("label", { class: "check" }, byPaste, "A pasted BigCommerce order")),
      el("div", { class: "toolbar" }, storedField, el("label", {}, "Event", events)),
      pastedField,
      isReturn ? el("label", {}, "Return (JSON: a return request, or a stored return's id)", ret) : null,
      el("p", {}, actionButton("Dry run", run, { into: failure })),
      failure,
    ),
    result,
  );
}
