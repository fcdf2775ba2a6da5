// What the BigCommerce sections share: the store's order statuses, status selects, the import progress
// bar, imports in batches, and problems shown next to the field they name.
import { el } from "../ui.js";

// BigCommerce's system order statuses (orderflow.bigcommerce.statuses): the ids are fixed, and our API
// does not relay the store's own labels, so the system names are shown.
export const STATUSES = [
  [0, "Incomplete"], [1, "Pending"], [2, "Shipped"], [3, "Partially Shipped"], [4, "Refunded"],
  [5, "Cancelled"], [6, "Declined"], [7, "Awaiting Payment"], [8, "Awaiting Pickup"],
  [9, "Awaiting Shipment"], [10, "Completed"], [11, "Awaiting Fulfillment"],
  [12, "Manual Verification Required"], [13, "Disputed"], [14, "Partially Refunded"],
];
export const NOT_ASSIGNED = "not assigned";

export function statusLabel(id) {
  if (id === null || id === undefined) return NOT_ASSIGNED;
  const known = STATUSES.find(([value]) => value === Number(id));
  return known ? `${known[0]} ${known[1]}` : `status ${id}`;
}

// A select of BigCommerce statuses; with `optional`, a first "not assigned" option stands for null.
export function statusSelect({ name, value, optional = false, id, label }) {
  const select = el(
    "select", { name, id, "aria-label": label },
    optional ? el("option", { value: "" }, NOT_ASSIGNED) : null,
    STATUSES.map(([status]) => el("option", { value: String(status) }, statusLabel(status))),
  );
  select.value = value === null || value === undefined ? "" : String(value);
  return select;
}

export function selectedStatus(select) {
  return select.value === "" ? null : Number(select.value);
}

// A labelled progress bar with a sentence under it that screen readers hear as it changes.
export function progressBar(label) {
  const bar = el("progress", { max: 1, value: 0, "aria-label": label });
  const said = el("p", { role: "status", class: "muted" });
  const node = el("div", { class: "bc-progress", hidden: true }, bar, said);
  return {
    node,
    set(done, total, noun) {
      node.hidden = false;
      bar.max = Math.max(total, 1);
      bar.value = done;
      said.textContent = `${done} of ${total} ${noun} done`;
    },
  };
}

// Runs `run(batch)` for each slice of `size` entries in turn, telling `progress(done, total)` after each;
// a batch that fails hands its error to `failed(batch, error)` and the next batch still runs.
export async function inBatches(entries, size, run, { progress, failed }) {
  let done = 0;
  progress(done, entries.length);
  for (let start = 0; start < entries.length; start += size) {
    const batch = entries.slice(start, start + size);
    try {
      await run(batch);
    } catch (exc) {
      if (exc.status === 401) throw exc;
      failed(batch, exc);
    }
    done += batch.length;
    progress(done, entries.length);
  }
}

// The API names the field it refuses ("status_mapping.validated"): the control of that name is marked
// and the message is put next to it, so the operator sees which one to fix.
export function markField(form, error) {
  for (const old of form.querySelectorAll("[aria-invalid]")) {
    old.removeAttribute("aria-invalid");
    old.removeAttribute("aria-describedby");
  }
  for (const old of form.querySelectorAll(".field-problem")) old.remove();
  const field = error?.field;
  if (!field) return null;
  const control = [...form.elements].find((element) => element.name === field);
  if (!control) return null;
  const id = `problem-${field.replace(/[^a-z0-9_-]/gi, "-")}`;
  control.setAttribute("aria-invalid", "true");
  control.setAttribute("aria-describedby", id);
  control.insertAdjacentElement("afterend", el("span", { class: "field-problem problems", id }, error.message));
  return control;
}

// A checkbox column: the header box selects every enabled row box; each row box is named after its row.
export function selectAll(label, boxes) {
  const all = el("input", { type: "checkbox", "aria-label": label });
  all.addEventListener("change", () => {
    for (const box of boxes()) if (!box.disabled) box.checked = all.checked;
  });
  return all;
}

// A table with a checkbox per row (named by `rowLabel`), a header box selecting every enabled one, and
// per-row cells the import updates in place: `cell(key, label)` finds them, `box(key)` the checkbox.
export function selectableTable({ caption, columns, rows, key, rowLabel, selectable = () => true, allLabel }) {
  const boxes = new Map();
  const cells = new Map();
  const all = selectAll(allLabel, () => boxes.values());
  const body = el("tbody", {}, rows.map((row) => {
    const box = el("input", { type: "checkbox", value: String(key(row)), "aria-label": rowLabel(row), disabled: !selectable(row) });
    boxes.set(key(row), box);
    const own = new Map(columns.map((column) => [column.label, el("td", {}, column.value(row))]));
    cells.set(key(row), own);
    return el("tr", {}, el("td", {}, box), [...own.values()]);
  }));
  const node = el(
    "table", { class: "bc-selectable" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, el("span", { class: "sr-only" }, "Select"), all), columns.map((c) => el("th", { scope: "col" }, c.label)))),
    body,
  );
  return {
    node,
    selected: () => [...boxes.entries()].filter(([, box]) => box.checked && !box.disabled).map(([k]) => k),
    box: (k) => boxes.get(k),
    cell: (k, label) => cells.get(k)?.get(label),
  };
}
