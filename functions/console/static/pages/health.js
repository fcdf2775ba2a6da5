// Health page: the orders that need an operator (counts and oldest ages, from GET /health), refreshed.
import { get } from "../api.js";
import { clear, el, poll, status, when } from "../ui.js";

const REFRESH_MS = 5000;
// The kinds GET /health reports, in the order an operator looks at them; others it adds follow, named as sent.
const KINDS = {
  pending_import: "Pending import",
  import_failed: "Import failed",
  error: "In error",
  on_hold: "On hold",
  push_pending: "Status push pending",
};

export function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function label(kind) {
  return KINDS[kind] || kind.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}

// The last reconciliation run, under whichever name the health route gives it (none yet: "not recorded").
function reconciliation(health) {
  const run = health.last_reconciliation ?? health.reconciliation ?? health.last_reconcile ?? null;
  if (!run) return el("p", { id: "last-reconciliation" }, "Not recorded yet: the sweep has not reconciled the store since the stack started.");
  if (typeof run !== "object") return el("p", { id: "last-reconciliation" }, String(run));
  return el("dl", { id: "last-reconciliation", class: "facts" }, Object.entries(run).map(([key, value]) => [
    el("dt", {}, key.replace(/_/g, " ")),
    el("dd", {}, /(_at|since)$/.test(key) ? when(value) : typeof value === "object" ? JSON.stringify(value) : String(value)),
  ]));
}

// Replaces a cell's content only when it reads differently, so that a refresh keeps the operator's focus.
function put(cell, content) {
  const text = content instanceof Node ? content.textContent : content;
  if (cell.textContent !== text || !cell.firstChild) clear(cell, content);
}

export async function render(main) {
  const overall = el("div", { id: "health-status" });
  const counts = el("div", { id: "health-counts" });
  const reconcile = el("div");
  const refreshed = el("p", { class: "muted", id: "health-refreshed" });
  clear(main,
    el("h1", {}, "Health"),
    overall,
    el("section", { "aria-labelledby": "attention-heading" },
      el("h2", { id: "attention-heading" }, "Orders needing attention"),
      counts),
    el("section", { "aria-labelledby": "reconcile-heading" },
      el("h2", { id: "reconcile-heading" }, "Last reconciliation run"),
      reconcile),
    refreshed,
  );

  async function tick() {
    const health = await get("/health");
    const attention = health.attention || {};
    const kinds = [...Object.keys(KINDS).filter((k) => k in attention), ...Object.keys(attention).filter((k) => !(k in KINDS))];
    clear(overall, el("p", {},
      "Status: ", status(health.status),
      health.status === "ok" ? ". Nothing is late or failed." : ". Some orders are late or failed their import.",
      health.auto_sync ? el("span", {}, " Auto-sync: ", status(health.auto_sync),
        health.auto_sync === "stopped" ? " (new orders wait pending import by design)." : ".") : null));
    const signature = kinds.join(",");
    if (counts.dataset.kinds !== signature) {
      counts.dataset.kinds = signature;
      clear(counts, el(
        "table", { id: "health-table" },
        el("caption", {}, "Counts and the oldest waiting order of each kind"),
        el("thead", {}, el("tr", {}, ["Kind", "Orders", "Oldest waiting for", "Since", "Oldest order"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, kinds.map((kind) => el("tr", { dataset: { kind } }, el("th", { scope: "row" }, label(kind)), el("td"), el("td"), el("td"), el("td")))),
      ));
    }
    for (const row of counts.querySelectorAll("tbody tr")) {
      const entry = attention[row.dataset.kind] || {};
      const [count, waited, since, oldest] = row.querySelectorAll("td");
      put(count, String(entry.count ?? 0));
      put(waited, age(entry.oldest_age_seconds));
      put(since, when(entry.oldest_since));
      const key = entry.oldest_order_key;
      put(oldest, key ? el("a", { href: `#/orders/${encodeURIComponent(key)}` }, key) : "—");
    }
    clear(reconcile, reconciliation(health));
    refreshed.textContent = `Refreshed ${when(new Date().toISOString())}; refreshes every ${REFRESH_MS / 1000} seconds.`;
  }

  await tick();
  let first = true;
  // The first tick already ran: the poll's loop starts with the next one, after a pause.
  return poll(async () => {
    if (first) { first = false; return; }
    await tick();
  }, REFRESH_MS);
}
