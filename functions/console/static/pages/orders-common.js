// Helpers shared by the Orders pages: the order statuses the API knows, and re-rendering that keeps focus.
import { get } from "../api.js";

// The API's own list (OpenAPI's OrderStatus), so that a new status shows without touching the console.
const FALLBACK_STATUSES = [
  "pending_import", "import_failed", "new", "validated", "on_hold", "error", "sourced", "in_fulfillment",
  "partially_shipped", "shipped", "invoiced", "completed", "cancelled", "partially_refunded", "refunded",
];
let statuses = null;

export async function orderStatuses() {
  if (!statuses) {
    try {
      const document = await get("/openapi.json");
      const listed = document?.components?.schemas?.OrderStatus?.enum;
      statuses = Array.isArray(listed) && listed.length ? listed : FALLBACK_STATUSES;
    } catch {
      statuses = FALLBACK_STATUSES;
    }
  }
  return statuses;
}

export function storeOrderId(order) {
  return order.source_order_id || (order.external_id ? String(order.external_id) : "—");
}

// Replaces what `container` shows by calling `rebuild`, without taking the operator's place: the focused
// element (found again by its data-key or id) keeps focus, and the window keeps its scroll position.
export function keepingFocus(container, rebuild) {
  const active = document.activeElement;
  const inside = active && active !== container && container.contains(active);
  const key = inside ? (active.dataset.key || active.id) : null;
  const { scrollX, scrollY } = window;
  rebuild();
  if (key) {
    const again = container.querySelector(`[data-key="${CSS.escape(key)}"], #${CSS.escape(key)}`);
    if (again) again.focus({ preventScroll: true });
  }
  if (window.scrollX !== scrollX || window.scrollY !== scrollY) window.scrollTo(scrollX, scrollY);
}
