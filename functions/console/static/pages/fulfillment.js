// Fulfillment page: sources (create / edit), inventory by source with CSV upload, fulfillment orders by state.
import { ApiError, get, post, put, query } from "../api.js";
import { action, clear, el, status, table, toast, when } from "../ui.js";
import { plural, uploadForm } from "./mappings-csv.js";
import { decimal, input, showProblem, valueOf, wholeNumber } from "./mappings-forms.js";

const SOURCE_KINDS = [["warehouse", "Warehouse"], ["store", "Store"], ["3pl", "3PL"]];
const STATES = ["created", "sent", "shipped", "cancelled", "failed"];
const PAGE_SIZE = 200;

export async function render(main) {
  const state = { sources: [], inventorySource: "", levels: [], cursor: null, foStatus: "created" };
  const said = el("p", { role: "status", id: "source-said", class: "said" });
  const sourceForm = el("div", { id: "source-form-area" });
  const sourceList = el("div", { id: "source-list" });
  const inventorySelect = el("select", { id: "inventory-source" });
  const inventoryList = el("div", { id: "inventory-list" });
  const inventoryMore = el("div");
  const foSelect = el("select", { id: "fo-status" }, STATES.map((s) => el("option", { value: s }, s)));
  const foList = el("div", { id: "fo-list" });
  const newSource = el("button", { type: "button", id: "new-source" }, "New source");
  newSource.addEventListener("click", () => openSource(null));

  async function loadSources() {
    state.sources = (await get("/fulfillment-sources")).sources;
    clear(sourceList, table({
      id: "sources-table",
      rows: state.sources,
      caption: `Fulfillment sources (${state.sources.length})`,
      empty: "No fulfillment sources yet: create one to source orders from.",
      columns: [
        { label: "ID", value: (s) => s.id },
        { label: "Name", value: (s) => s.name },
        { label: "Kind", value: (s) => s.kind },
        { label: "Priority", value: (s) => String(s.priority) },
        { label: "Active", value: (s) => (s.active ? "yes" : "no") },
        { label: "Accepts returns", value: (s) => (s.accepts_returns ? "yes" : "no") },
        { label: "Location", value: (s) => place(s.address) },
        { label: "Max lines per day", value: (s) => (s.max_lines_per_day ?? "no limit") },
        {
          label: "Actions",
          value: (s) => {
            const edit = el("button", { type: "button", class: "secondary" }, "Edit", el("span", { class: "sr-only" }, ` ${s.id}`));
            edit.addEventListener("click", () => openSource(s));
            return edit;
          },
        },
      ],
    }));
    const chosen = state.inventorySource;
    clear(inventorySelect,
      el("option", { value: "", selected: !chosen }, "All sources"),
      state.sources.map((s) => el("option", { value: s.id, selected: s.id === chosen }, `${s.id} — ${s.name}`)));
  }

  function place(address = {}) {
    const words = [address.street_1, address.city, address.state, address.zip, address.country_iso2].filter(Boolean).join(", ");
    const at = address.location ? ` (${address.location.latitude}, ${address.location.longitude})` : "";
    return words || at ? `${words}${at}` : "—";
  }

  function openSource(source) {
    const a = source?.address || {};
    const summary = el("div", { class: "form-problems" });
    const form = el(
      "form", { class: "panel source-form", id: "source-form", "aria-labelledby": "source-form-heading", novalidate: true },
      el("h3", { id: "source-form-heading" }, source ? `Edit source ${source.id}` : "New fulfillment source"),
      el("div", { class: "grid" },
        input("ID", "id", { value: source?.id, required: true, readonly: Boolean(source), hint: source ? "A source's id does not change." : "Letters, digits, dot, dash or underscore, e.g. WH-TX." }),
        input("Name", "name", { value: source?.name, required: true }),
        input("Kind", "kind", { value: source?.kind || "warehouse", options: SOURCE_KINDS }),
        input("Priority", "priority", { type: "number", value: source?.priority ?? 100, step: 1, hint: "Lower ships first when all else is equal." }),
        input("Max lines per day", "max_lines_per_day", { type: "number", value: source?.max_lines_per_day ?? "", min: 1, step: 1, hint: "Empty: no limit." }),
        input("Active", "active", { type: "checkbox", checked: source ? source.active : true }),
        input("Accepts returns", "accepts_returns", { type: "checkbox", checked: source ? source.accepts_returns : true }),
      ),
      el("fieldset", {},
        el("legend", {}, "Address and location"),
        el("div", { class: "grid" },
          input("Street", "address.street_1", { value: a.street_1 }),
          input("City", "address.city", { value: a.city }),
          input("State", "address.state", { value: a.state }),
          input("ZIP", "address.zip", { value: a.zip }),
          input("Country (ISO 2 letters)", "address.country_iso2", { value: a.country_iso2 }),
          input("Latitude", "address.location.latitude", { value: a.location?.latitude ?? "", hint: "With longitude: used to ship from the nearest source." }),
          input("Longitude", "address.location.longitude", { value: a.location?.longitude ?? "" }),
        )),
      summary,
      el("div", { class: "toolbar" },
        el("button", { type: "submit" }, source ? "Save source" : "Create source"),
        el("button", { type: "button", class: "secondary", id: "source-cancel" }, "Cancel")),
    );
    form.querySelector("#source-cancel").addEventListener("click", () => { clear(sourceForm); newSource.focus(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = sourceBody(form, source);
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const saved = source
          ? await put(`/fulfillment-sources/${encodeURIComponent(source.id)}`, body)
          : await post("/fulfillment-sources", body);
        clear(sourceForm);
        said.textContent = `${source ? "Saved" : "Created"} the source ${saved.id} (${saved.name}).`;
        await loadSources();
        newSource.focus();
      } catch (exc) {
        if (!(exc instanceof ApiError)) throw exc;
        showProblem(form, summary, exc);
      } finally {
        button.disabled = false;
      }
    });
    clear(sourceForm, form);
    form.querySelector(source ? "[data-field=name]" : "input").focus();
  }

  // The source as the API takes it: what the form shows over what is stored (a PUT replaces it whole).
  function sourceBody(form, source) {
    const text = (name) => valueOf(form, name);
    const latitude = text("address.location.latitude");
    const longitude = text("address.location.longitude");
    const body = {
      ...(source || {}),
      id: text("id"),
      name: text("name"),
      kind: text("kind"),
      active: text("active"),
      accepts_returns: text("accepts_returns"),
      address: {
        ...(source?.address || {}),
        street_1: text("address.street_1"),
        city: text("address.city"),
        state: text("address.state"),
        zip: text("address.zip"),
        country_iso2: text("address.country_iso2"),
        location: latitude || longitude ? { latitude: decimal(latitude), longitude: decimal(longitude) } : null,
      },
    };
    delete body.created_at;
    delete body.updated_at;
    const priority = wholeNumber(text("priority"));
    if (priority === undefined) delete body.priority; else body.priority = priority;
    body.max_lines_per_day = wholeNumber(text("max_lines_per_day")) ?? null;
    return body;
  }

  async function loadInventory({ append = false } = {}) {
    const answer = await get(`/inventory${query({ source_id: state.inventorySource, limit: PAGE_SIZE, cursor: append ? state.cursor : "" })}`);
    state.levels = append ? state.levels.concat(answer.inventory) : answer.inventory;
    state.cursor = answer.next_cursor;
    const where = state.inventorySource ? `at ${state.inventorySource}` : "at all sources";
    clear(inventoryList, table({
      id: "inventory-table",
      rows: state.levels,
      caption: `Stock ${where} (${state.levels.length}${state.cursor ? "+" : ""})`,
      empty: `No stock recorded ${where}.`,
      columns: [
        { label: "Source", value: (l) => l.source_id },
        { label: "Product", value: (l) => l.product },
        { label: "On hand", value: (l) => String(l.on_hand) },
        { label: "Reserved", value: (l) => String(l.reserved) },
        { label: "Available", value: (l) => String(l.available) },
        { label: "Updated", value: (l) => when(l.updated_at) },
      ],
    }));
    clear(inventoryMore, state.cursor ? action("Load more stock", () => loadInventory({ append: true }), { cls: "secondary" }) : null);
  }

  async function loadFulfillmentOrders() {
    let answer;
    try {
      answer = await get(`/fulfillment-orders${query({ status: state.foStatus, limit: 50 })}`);
    } catch (exc) {
      if (exc instanceof ApiError && (exc.status === 404 || exc.status === 405)) {
        clear(foList, el("p", { class: "muted" }, "This stack does not list fulfillment orders by state; each order's page shows its own."));
        return;
      }
      throw exc;
    }
    const found = answer.fulfillment_orders || [];
    clear(foList, table({
      id: "fo-table",
      rows: found,
      caption: `Fulfillment orders ${state.foStatus} (${found.length}${answer.next_cursor ? "+" : ""}, newest first)`,
      empty: `No fulfillment orders are ${state.foStatus}.`,
      columns: [
        { label: "Fulfillment order", value: (fo) => fo.id },
        { label: "Order", value: (fo) => el("a", { href: `#/orders/${encodeURIComponent(fo.order_key)}` }, fo.order_key) },
        { label: "Source", value: (fo) => fo.source_id },
        { label: "Status", value: (fo) => status(fo.status) },
        { label: "Lines", value: (fo) => `${plural(fo.lines.length, "line")}, ${fo.lines.reduce((n, l) => n + l.quantity, 0)} units` },
        { label: "Provider", value: (fo) => [fo.provider, fo.provider_reference].filter(Boolean).join(" · ") || "—" },
        { label: "Tracking", value: (fo) => [fo.carrier, fo.tracking_number].filter(Boolean).join(" ") || "—" },
        { label: "Created", value: (fo) => when(fo.created_at) },
      ],
    }));
  }

  inventorySelect.addEventListener("change", async () => {
    state.inventorySource = inventorySelect.value;
    try { await loadInventory(); } catch (exc) { toast(exc.message || String(exc), { error: true }); }
  });
  foSelect.addEventListener("change", async () => {
    state.foStatus = foSelect.value;
    try { await loadFulfillmentOrders(); } catch (exc) { toast(exc.message || String(exc), { error: true }); }
  });

  const upload = uploadForm({
    id: "inventory-import",
    heading: "Import stock from CSV",
    path: "/inventory/import",
    help: "A UTF-8 CSV file with the header source_id,product,on_hand. Each good row sets that source's on-hand stock of the product (reserved stock is kept); rows with errors are not imported.",
    extra: [
      el("div", { class: "field check" },
        el("input", { type: "checkbox", id: "inventory-import-dry-run" }),
        el("label", { for: "inventory-import-dry-run" }, "Only check the file (write nothing)")),
    ],
    params: () => ({ dry_run: document.getElementById("inventory-import-dry-run").checked ? "true" : "" }),
    summary: (a) => `${a.dry_run ? `Checked (nothing written): ${plural(a.valid, "good row")}` : `Imported: ${plural(a.updated, "stock level")} set`}; ${plural(a.rejected, "row")} rejected.`,
    done: (a) => (a.dry_run ? null : loadInventory()),
  });

  clear(main,
    el("h1", {}, "Fulfillment"),
    el("section", { "aria-labelledby": "sources-heading" },
      el("h2", { id: "sources-heading" }, "Sources"),
      el("div", { class: "toolbar" }, newSource),
      said, sourceForm, sourceList),
    el("section", { "aria-labelledby": "inventory-heading" },
      el("h2", { id: "inventory-heading" }, "Inventory"),
      el("div", { class: "toolbar" }, el("div", { class: "field" }, el("label", { for: "inventory-source" }, "Source"), inventorySelect)),
      inventoryList, inventoryMore),
    upload,
    el("section", { "aria-labelledby": "fo-heading" },
      el("h2", { id: "fo-heading" }, "Fulfillment orders"),
      el("div", { class: "toolbar" }, el("div", { class: "field" }, el("label", { for: "fo-status" }, "State"), foSelect)),
      foList),
  );
  await Promise.all([loadSources().then(loadInventory), loadFulfillmentOrders()]);
}
