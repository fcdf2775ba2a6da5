// Mappings page: the four kinds by mapping group, with create / edit / delete, CSV import and export.
import { ApiError, del, get, post, put, query, request } from "../api.js";
import { action, clear, el, table, toast, when, download } from "../ui.js";
import { plural, uploadForm } from "./mappings-csv.js";
import { input, showProblem, valueOf } from "./mappings-forms.js";

const DEFAULT_GROUP = "Default Mapping Group";
// Each kind with the field that holds its internal value (as the API names it) and how people say it.
const KINDS = {
  accounts: { label: "Accounts", one: "account", value: "account", valueLabel: "Account" },
  "price-lists": { label: "Price lists", one: "price list", value: "price_list", valueLabel: "Price list" },
  units: { label: "Units", one: "unit", value: "unit", valueLabel: "Unit" },
  products: { label: "Products", one: "product", value: "product", valueLabel: "Product" },
};
const PAGE_SIZE = 500;

function columns(kind) {
  const value = KINDS[kind].value;
  return ["mapping_group", ...(value === "account" ? [] : ["account"]), value, "external_field_name", "external_field_value"];
}

export async function render(main, params) {
  const kind = KINDS[params[0]] ? params[0] : "accounts";
  const spec = KINDS[kind];
  const state = { group: "", groups: new Set([DEFAULT_GROUP]), mappings: [], cursor: null, editing: null };

  const tabs = el("nav", { "aria-label": "Mapping kinds", class: "tabs" }, el("ul", {}, Object.entries(KINDS).map(([k, s]) =>
    el("li", {}, el("a", { href: `#/mappings/${k}`, "aria-current": k === kind ? "page" : null }, s.label)))));
  const groupSelect = el("select", { id: "mapping-group-filter" });
  const said = el("p", { role: "status", id: "mapping-said", class: "said" });
  const formArea = el("div", { id: "mapping-form-area" });
  const listArea = el("div", { id: "mapping-list" });
  const more = el("div");
  const newButton = el("button", { type: "button", id: "new-mapping" }, "New mapping");
  newButton.addEventListener("click", () => openForm(null));
  const downloadButton = action("Download CSV", async () => {
    const text = await request("GET", `/mappings/${kind}/export${query({ mapping_group: state.group })}`);
    download(`${kind}-mappings.csv`, typeof text === "string" ? text : JSON.stringify(text));
    say(`Downloaded ${kind}-mappings.csv${state.group ? ` (group ${state.group})` : ""}.`);
  }, { id: "download-mappings", cls: "secondary" });

  function say(text) {
    said.textContent = text;
  }

  function fillGroups() {
    const names = [...state.groups].sort((a, b) => a.localeCompare(b));
    clear(groupSelect,
      el("option", { value: "", selected: !state.group }, "All groups"),
      names.map((g) => el("option", { value: g, selected: g === state.group }, g)));
  }

  async function load({ append = false } = {}) {
    const answer = await get(`/mappings/${kind}${query({ mapping_group: state.group, limit: PAGE_SIZE, cursor: append ? state.cursor : "" })}`);
    state.mappings = append ? state.mappings.concat(answer.mappings) : answer.mappings;
    state.cursor = answer.next_cursor;
    for (const m of answer.mappings) state.groups.add(m.mapping_group);
    fillGroups();
    showList();
  }

  function showList() {
    const where = state.group ? `in group ${state.group}` : "in all groups";
    clear(listArea, table({
      id: "mappings-table",
      rows: state.mappings,
      caption: `${spec.label} mappings ${where} (${state.mappings.length}${state.cursor ? "+" : ""})`,
      empty: `No ${spec.one} mappings ${where} yet.`,
      columns: [
        { label: "Mapping group", value: (m) => m.mapping_group },
        ...(spec.value === "account" ? [] : [{ label: "Account", value: (m) => m.account || el("span", { class: "muted" }, "all accounts") }]),
        { label: "External field name", value: (m) => m.external_field_name },
        { label: "External field value", value: (m) => m.external_field_value },
        { label: spec.valueLabel, value: (m) => m[spec.value] },
        { label: "Updated", value: (m) => when(m.updated_at || m.created_at) },
        { label: "Actions", value: (m) => rowActions(m) },
      ],
    }));
    clear(more, state.cursor ? action("Load more", () => load({ append: true }), { cls: "secondary" }) : null);
  }

  function rowActions(mapping) {
    const cell = el("div", { class: "row-actions" });
    const name = `${mapping.external_field_value}`;
    const edit = el("button", { type: "button", class: "secondary" }, "Edit", el("span", { class: "sr-only" }, ` ${name}`));
    edit.addEventListener("click", () => openForm(mapping));
    const remove = el("button", { type: "button", class: "danger" }, "Delete", el("span", { class: "sr-only" }, ` ${name}`));
    remove.addEventListener("click", () => {
      const keep = el("button", { type: "button", class: "secondary" }, "Keep", el("span", { class: "sr-only" }, ` ${name}`));
      const confirm = action(["Yes, delete", el("span", { class: "sr-only" }, ` ${name}`)], async () => {
        await del(`/mappings/${kind}/${encodeURIComponent(mapping.id)}`);
        say(`Deleted the ${spec.one} mapping ${mapping.external_field_name} ${mapping.external_field_value}.`);
        await load();
        newButton.focus();
      }, { cls: "danger" });
      keep.addEventListener("click", () => { clear(cell, edit, remove); remove.focus(); });
      clear(cell, el("span", {}, "Delete this mapping? "), confirm, keep);
      confirm.focus();
    });
    return clear(cell, edit, remove);
  }

  function openForm(mapping) {
    state.editing = mapping;
    const v = (name, fallback = "") => (mapping ? mapping[name] ?? fallback : fallback);
    const headingId = "mapping-form-heading";
    const summary = el("div", { class: "form-problems" });
    const fields = [
      input("Mapping group", "mapping_group", { value: v("mapping_group", state.group || DEFAULT_GROUP), required: true }),
      spec.value === "account" ? null : input("Account", "account", { value: v("account"), hint: "Optional: limits the mapping to one account; empty for all accounts." }),
      input("External field name", "external_field_name", {
        value: v("external_field_name", kind === "products" ? "sku" : kind === "units" ? "unit" : ""), required: true,
        hint: "The BigCommerce field matched, e.g. sku, unit, customer_group or email.",
      }),
      input("External field value", "external_field_value", { value: v("external_field_value"), required: true, hint: "The value BigCommerce sends in that field." }),
      input(spec.valueLabel, spec.value, { value: v(spec.value), required: true, hint: `Our ${spec.one} it maps to.` }),
    ];
    const save = el("button", { type: "submit" }, mapping ? "Save changes" : "Create mapping");
    const cancel = el("button", { type: "button", class: "secondary" }, "Cancel");
    const form = el(
      "form", { class: "panel mapping-form", id: "mapping-form", "aria-labelledby": headingId, novalidate: true },
      el("h3", { id: headingId }, mapping ? `Edit ${spec.one} mapping ${mapping.external_field_value}` : `New ${spec.one} mapping`),
      el("div", { class: "grid" }, fields),
      summary,
      el("div", { class: "toolbar" }, save, cancel),
    );
    cancel.addEventListener("click", () => { clear(formArea); state.editing = null; newButton.focus(); });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = {};
      for (const name of columns(kind)) {
        const value = valueOf(form, name);
        if (name === "account" && spec.value !== "account" && !value) continue;
        body[name] = value;
      }
      save.disabled = true;
      try {
        const saved = mapping
          ? await put(`/mappings/${kind}/${encodeURIComponent(mapping.id)}`, body)
          : await post(`/mappings/${kind}`, body);
        clear(formArea);
        state.editing = null;
        state.groups.add(saved.mapping_group);
        say(`${mapping ? "Saved" : "Created"} the ${spec.one} mapping ${saved.external_field_name} ${saved.external_field_value} → ${saved[spec.value]}.`);
        await load();
        newButton.focus();
      } catch (exc) {
        if (!(exc instanceof ApiError)) throw exc;
        showProblem(form, summary, exc);
      } finally {
        save.disabled = false;
      }
    });
    clear(formArea, form);
    form.querySelector("input, select").focus();
  }

  groupSelect.addEventListener("change", async () => {
    state.group = groupSelect.value;
    try { await load(); } catch (exc) { toast(exc.message || String(exc), { error: true }); }
  });

  const upload = uploadForm({
    id: "mapping-import",
    heading: `Import ${spec.one} mappings from CSV`,
    path: `/mappings/${kind}/import`,
    help: `A UTF-8 CSV file with the header ${columns(kind).join(",")}. An empty mapping_group is the default group${spec.value === "account" ? "" : ", an empty account a mapping for all accounts"}. Rows with errors are not imported; the others are.`,
    extra: [
      el("div", { class: "field" },
        el("label", { for: "mapping-import-existing" }, "When a row's mapping exists with another value"),
        el("select", { id: "mapping-import-existing" },
          el("option", { value: "refuse" }, "Report it as an error"),
          el("option", { value: "update" }, "Replace the stored value"))),
      el("div", { class: "field check" },
        el("input", { type: "checkbox", id: "mapping-import-dry-run" }),
        el("label", { for: "mapping-import-dry-run" }, "Only check the file (write nothing)")),
    ],
    params: () => ({
      on_existing: document.getElementById("mapping-import-existing").value,
      dry_run: document.getElementById("mapping-import-dry-run").checked ? "true" : "",
    }),
    summary: (a) => `${a.dry_run ? "Checked (nothing written)" : "Imported"}: ${a.created} created, ${a.updated} updated, ${a.unchanged} unchanged; ${plural(a.rejected, "row")} rejected.`,
    done: (a) => (a.dry_run ? null : load()),
  });

  clear(main,
    el("h1", {}, "Mappings"),
    tabs,
    el("section", { "aria-labelledby": "mapping-list-heading" },
      el("h2", { id: "mapping-list-heading" }, `${spec.label} mappings`),
      el("div", { class: "toolbar" },
        el("div", { class: "field" }, el("label", { for: "mapping-group-filter" }, "Mapping group"), groupSelect),
        newButton, downloadButton),
      said,
      formArea,
      listArea,
      more),
    upload,
  );
  fillGroups();
  await load();
}
