// The connector's settings (GET|PUT /settings/bigcommerce): the import statuses, import-as, pushing,
// auto-sync, and the status mapping from our statuses to the store's, "not assigned" pushing nothing.
import { get, put } from "../api.js";
import { clear, el, problems } from "../ui.js";
import { markField, selectedStatus, statusSelect } from "./bigcommerce-common.js";

const IMPORT_AS = [["cash_sale", "Cash sale"], ["sales_order", "Sales order"], ["sales_invoice", "Sales invoice"]];

export async function render(section) {
  const settings = await get("/settings/bigcommerce");
  const said = el("div", { id: "settings-result" });
  const form = el("form", { id: "bigcommerce-settings", novalidate: true });
  const controls = {
    mapping_group: el("input", { type: "text", name: "mapping_group", value: settings.mapping_group, required: true }),
    new_order_status_id: statusSelect({ name: "new_order_status_id", value: settings.new_order_status_id }),
    downloaded_status_id: statusSelect({ name: "downloaded_status_id", value: settings.downloaded_status_id, optional: true }),
    import_error_status_id: statusSelect({ name: "import_error_status_id", value: settings.import_error_status_id }),
    import_as: el("select", { name: "import_as" }, IMPORT_AS.map(([value, label]) => el("option", { value }, label))),
    push_enabled: el("input", { type: "checkbox", name: "push_enabled", checked: settings.push_enabled }),
  };
  controls.import_as.value = settings.import_as;
  const autoSync = ["running", "stopped"].map((value) => el("input", {
    type: "radio", name: "auto_sync", value, checked: settings.auto_sync === value,
  }));
  const mapping = Object.entries(settings.status_mapping || {}).map(([ours, theirs]) => ({
    ours,
    select: statusSelect({
      name: `status_mapping.${ours}`, value: theirs, optional: true, label: `BigCommerce status for ${ours.replace(/_/g, " ")}`,
    }),
  }));

  form.append(
    el(
      "div", { class: "grid" },
      el("label", {}, "Import orders with status (new-order status)", controls.new_order_status_id),
      el("label", {}, "Downloaded status (set once imported)", controls.downloaded_status_id),
      el("label", {}, "Import-error status", controls.import_error_status_id),
      el("label", {}, "Import cart orders as", controls.import_as),
      el("label", {}, "Mapping group", controls.mapping_group),
    ),
    el("label", { class: "check" }, controls.push_enabled, "Push status changes to BigCommerce"),
    "auto_sync" in settings
      ? el(
        "fieldset", { class: "bc-auto-sync", "aria-describedby": "auto-sync-note" },
        el("legend", {}, "Auto-sync"),
        el("label", { class: "check" }, autoSync[1], "Stopped"),
        el("label", { class: "check" }, autoSync[0], "Running"),
        el("p", { class: "muted", id: "auto-sync-note" }, "Running: new orders are imported as their webhooks arrive and by the sweep. Stopped: they wait, pending import, until imported from Orders (Cart)."),
      )
      : null,
    el("h3", {}, "Status mapping"),
    el(
      "table", { class: "bc-mapping" },
      el("caption", {}, "What the store is told for each of our statuses (not assigned: nothing is pushed)"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Our status"), el("th", { scope: "col" }, "BigCommerce status"))),
      el("tbody", {}, mapping.map(({ ours, select }) => el(
        "tr", {}, el("th", { scope: "row" }, ours.replace(/_/g, " ")), el("td", {}, select),
      ))),
    ),
    el("p", {}, el("button", { type: "submit" }, "Save settings")),
    said,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    clear(said);
    const change = {
      mapping_group: controls.mapping_group.value.trim(),
      new_order_status_id: selectedStatus(controls.new_order_status_id),
      downloaded_status_id: selectedStatus(controls.downloaded_status_id),
      import_error_status_id: selectedStatus(controls.import_error_status_id),
      import_as: controls.import_as.value,
      push_enabled: controls.push_enabled.checked,
      status_mapping: Object.fromEntries(mapping.map(({ ours, select }) => [ours, selectedStatus(select)])),
    };
    const running = autoSync.find((radio) => radio.checked);
    if (running) change.auto_sync = running.value;
    try {
      await put("/settings/bigcommerce", change);
      markField(form, null);
      clear(said, el("p", { role: "status", class: "bc-ok" }, "Settings saved."));
    } catch (exc) {
      const control = markField(form, exc);
      clear(said, problems(exc));
      if (control) control.focus();
    } finally {
      button.disabled = false;
    }
  });

  clear(section, el("h2", { id: "bc-section-title" }, "Settings"), form);
}
