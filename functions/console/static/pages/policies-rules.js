// The policy rule builder: rows of (field, operator, value) in all/any groups that nest, read back as the API's rules.
import { el } from "../ui.js";

// As orderflow.models.policy: the operators, and the friendly fields of each kind of subject (any path
// into the order, line or return works too; the API names a field it does not know).
export const OPERATORS = [
  ["equals", "equals"], ["not_equals", "not equals"], ["greater_than", ">"], ["greater_than_or_equal", ">="],
  ["less_than", "<"], ["less_than_or_equal", "<="], ["contains_data", "contains data"], ["does_not_contain_data", "does not contain data"],
];
const NO_VALUE = new Set(["contains_data", "does_not_contain_data"]);
export const FIELDS = {
  order: {
    provider: "where the order came from, e.g. bigcommerce, orderful, manual",
    channel: "the BigCommerce channel id", order_source: "BigCommerce's order source, e.g. www, manual",
    currency: "currency code, e.g. USD", total: "order total including tax", subtotal: "subtotal excluding tax",
    tax: "total tax", country: "two-letter country of the first ship-to address", state: "state of the first ship-to address",
    postal_code: "postal code of the first ship-to address", customer_email: "the customer's email",
    company: "the customer's company", payment_method: "payment method", account: "the mapped account",
    price_list: "the mapped price list", mapping_group: "the mapping group", line_count: "number of order lines",
    status: "internal order status", guest: "true when the customer checked out as a guest",
    source: "the order source's code, e.g. BC", is_manual: "true for an order an operator entered",
  },
  lines: {
    sku: "the line's SKU", name: "the product name on the line", quantity: "quantity ordered", unit_price: "unit price",
    total: "line total including tax", product: "the mapped product", unit: "the mapped unit",
    external_unit: "the unit as BigCommerce sent it", quantity_shipped: "quantity shipped so far",
  },
  return: {
    reason: "the reason given for the return", condition: "the condition the customer gave",
    value: "what the returned lines cost the customer", quantity: "units asked back",
    days_since_shipment: "days from the order's last shipment to the request", resolution: "refund, exchange or store_credit",
    origin: "merchant or store", status: "the return's status", line_count: "number of lines returned",
  },
};

export function fieldLists() {
  return Object.entries(FIELDS).map(([subject, fields]) =>
    el("datalist", { id: `policy-fields-${subject}` }, Object.entries(fields).map(([name, meaning]) => el("option", { value: name }, meaning))));
}

function matchSelect(id, value) {
  return el(
    "select", { id },
    el("option", { value: "all", selected: value !== "any" }, "all (every rule holds)"),
    el("option", { value: "any", selected: value === "any" }, "any (at least one rule holds)"),
  );
}

// A group of rules (the policy itself is the outermost one, without a parent). `subject` () gives the
// applies_to, for the field suggestions; every change relabels the rows, so that "Rule 2.1" stays true.
export class RuleGroup {
  constructor({ match = "all", rules = [] } = {}, { subject, parent = null, onremove } = {}) {
    const top = !parent;
    this.subject = subject;
    this.parent = parent;
    this.items = el("div", { class: "rule-items" });
    this.legend = el("legend", {});
    this.match = matchSelect(null, match);
    this.matchLabel = el("label", {}, top ? "Policy matches when" : "Group matches when", this.match);
    this.node = el(
      "fieldset", { class: top ? "rule-group top" : "rule-group" },
      this.legend,
      this.matchLabel,
      this.items,
      el(
        "div", { class: "toolbar" },
        el("button", { type: "button", class: "secondary", onclick: () => this.addRule().focus() }, "Add rule"),
        el("button", { type: "button", class: "secondary", onclick: () => this.addGroup().focus() }, "Add group"),
        top ? null : el("button", { type: "button", class: "secondary", onclick: () => onremove(this) }, "Remove group"),
      ),
    );
    this.entries = [];
    for (const item of rules) {
      if (item && Array.isArray(item.rules)) this.addGroup(item);
      else this.addRule(item);
    }
    if (!this.entries.length && top) this.addRule();
  }

  addRule(rule = {}) {
    const field = el("input", { name: "field", autocomplete: "off", value: rule.field || "", list: `policy-fields-${this.subject()}` });
    const operator = el("select", { name: "operator" }, OPERATORS.map(([value, label]) => el("option", { value, selected: value === (rule.operator || "equals") }, label)));
    const value = el("input", { name: "value", autocomplete: "off", value: rule.value === undefined || rule.value === null ? "" : String(rule.value) });
    const legend = el("legend", {});
    const fits = () => {
      value.disabled = NO_VALUE.has(operator.value);
      if (value.disabled) value.value = "";
    };
    operator.addEventListener("change", fits);
    fits();
    const entry = {
      kind: "rule", field, operator, value, legend,
      read: () => (NO_VALUE.has(operator.value) ? { field: field.value.trim(), operator: operator.value } : { field: field.value.trim(), operator: operator.value, value: value.value }),
    };
    const remove = el("button", { type: "button", class: "secondary", onclick: () => this.remove(entry) }, "Remove");
    entry.node = el(
      "fieldset", { class: "rule" },
      legend,
      el("label", {}, "Field", field),
      el("label", {}, "Operator", operator),
      el("label", {}, "Value", value),
      remove,
    );
    entry.focus = () => field.focus();
    this.entries.push(entry);
    this.items.append(entry.node);
    this.renumber();
    return entry;
  }

  addGroup(group = { match: "any", rules: [{}] }) {
    const inner = new RuleGroup(group, { subject: this.subject, parent: this, onremove: (g) => this.remove(g.entry) });
    const entry = { kind: "group", group: inner, node: inner.node, read: () => inner.read(), focus: () => inner.match.focus() };
    inner.entry = entry;
    this.entries.push(entry);
    this.items.append(entry.node);
    this.renumber();
    return entry;
  }

  remove(entry) {
    this.entries = this.entries.filter((e) => e !== entry);
    entry.node.remove();
    this.renumber();
  }

  renumber() {
    let top = this;
    while (top.parent) top = top.parent;
    top.label("");
  }

  label(prefix) {
    this.legend.textContent = prefix ? `Group ${prefix}` : "Rules";
    this.entries.forEach((entry, index) => {
      const number = prefix ? `${prefix}.${index + 1}` : String(index + 1);
      if (entry.kind === "group") entry.group.label(number);
      else entry.legend.textContent = `Rule ${number}`;
    });
  }

  setSubject() {
    for (const entry of this.entries) {
      if (entry.kind === "group") entry.group.setSubject();
      else entry.field.setAttribute("list", `policy-fields-${this.subject()}`);
    }
  }

  read() {
    return { match: this.match.value, rules: this.entries.map((e) => e.read()) };
  }
}
