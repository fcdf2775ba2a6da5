// The flow editor: the definition as JSON text, checked and saved through the API, with a palette of steps.
import { get, post, put } from "../api.js";
import { clear, el } from "../ui.js";
import { actionButton, problemList } from "./flows-problems.js";

const ORDER_ACTIONS = [
  "validate_order_header", "validate_order_line", "send_to_dom", "assign_fulfillment_source", "send_to_fulfillment",
  "send_to_invoice", "send_to_accounting", "update_order_status", "cancel_order",
];
const RETURN_ACTIONS = ["validate_return", "assign_return_source", "send_to_returns_provider", "refund", "update_return_status"];
const SHARED_ACTIONS = ["custom"];
const ELEMENTS = ["condition", "condition_merge", "splitter", "splitter_merge"];
const KNOWN_ACTIONS = new Set([...ORDER_ACTIONS, ...RETURN_ACTIONS, ...SHARED_ACTIONS]);
// What a saved flow carries beyond its definition, and the defaults a step need not spell out.
const RECORD_ONLY = ["id", "created_on", "status", "version", "published_version", "versions", "state_machine_arn", "created_at", "updated_at"];
const EMPTY_DEFAULTS = ["input_events", "filter_policies", "execution_policies", "params", "target"];

const NEW_FLOW = {
  name: "New flow",
  type: "order_orchestration",
  description: "",
  input_events: ["new_order"],
  steps: [{ name: "Validate order header", action: "validate_order_header" }],
};

const title = (id) => id.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

// Parameters an action cannot do without, so that an inserted step is valid as it stands.
const ACTION_PARAMS = {
  update_order_status: { params: { status: "validated" } },
  update_return_status: { params: { status: "received" } },
  custom: { target: "https://example.com/orderflow-step" },
};

function snippet(kind, unique) {
  if (KNOWN_ACTIONS.has(kind)) return { name: unique(title(kind)), action: kind, ...ACTION_PARAMS[kind] };
  const first = () => ({ name: unique("Validate order header"), action: "validate_order_header" });
  if (kind === "condition" || kind === "condition_merge") {
    return { name: unique(title(kind)), element: kind, yes: [first()], no: [] };
  }
  return {
    name: unique(title(kind)),
    element: kind,
    branches: [1, 2].map((n) => {
      const name = unique(`Branch ${n}`);
      return { name, steps: [first()] };
    }),
  };
}

// The definition as an operator edits it: without the record's fields and empty defaults.
function definitionOf(record) {
  const prune = (value) => {
    if (Array.isArray(value)) return value.map(prune);
    if (!value || typeof value !== "object") return value;
    const out = {};
    for (const [key, item] of Object.entries(value)) {
      const empty = item === null || (Array.isArray(item) && !item.length) || (typeof item === "object" && item && !Array.isArray(item) && !Object.keys(item).length);
      if (EMPTY_DEFAULTS.includes(key) && empty) continue;
      out[key] = prune(item);
    }
    return out;
  };
  const definition = { ...record };
  for (const key of RECORD_ONLY) delete definition[key];
  return prune(definition);
}

function stepNames(flow) {
  const names = new Set();
  const walk = (steps) => {
    for (const step of Array.isArray(steps) ? steps : []) {
      if (!step || typeof step !== "object") continue;
      names.add(step.name);
      walk(step.yes);
      walk(step.no);
      for (const branch of Array.isArray(step.branches) ? step.branches : []) {
        names.add(branch?.name);
        walk(branch?.steps);
      }
    }
  };
  walk(flow?.steps);
  return names;
}

// The checks that need no server: the text is JSON, each step is an action or an element, and the
// policies it names exist and are of the right kind. Saving checks the whole flow.
export function quickCheck(text, policies) {
  let flow;
  try {
    flow = JSON.parse(text);
  } catch (exc) {
    return [`the text is not JSON: ${exc.message}`];
  }
  if (!flow || typeof flow !== "object" || Array.isArray(flow)) return ["a flow is an object with name, type and steps"];
  const found = [];
  if (!flow.name) found.push("name: a flow needs a name");
  const byName = new Map(policies.map((p) => [p.name, p]));
  const named = (list, path, kind) => {
    (Array.isArray(list) ? list : []).forEach((name, index) => {
      const policy = byName.get(name);
      if (!policy) found.push(`${path}[${index}]: unknown policy '${name}'`);
      else if (policy.kind !== kind) found.push(`${path}[${index}]: '${name}' is a ${policy.kind} policy, not a ${kind} policy`);
    });
  };
  const walk = (steps, path) => {
    if (!Array.isArray(steps)) return;
    steps.forEach((step, index) => {
      const here = `${path}[${index}]`;
      if (!step || typeof step !== "object") { found.push(`${here}: a step is an object`); return; }
      if ("action" in step) {
        if (!KNOWN_ACTIONS.has(step.action)) found.push(`${here}.action: unknown action '${step.action}'`);
        named(step.filter_policies, `${here}.filter_policies`, "filter");
        named(step.execution_policies, `${here}.execution_policies`, "execution");
      } else if (ELEMENTS.includes(step.element)) {
        walk(step.yes, `${here}.yes`);
        walk(step.no, `${here}.no`);
        (Array.isArray(step.branches) ? step.branches : []).forEach((b, i) => walk(b?.steps, `${here}.branches[${i}].steps`));
      } else {
        found.push(`${here}: a step needs an 'action' or an 'element' (${ELEMENTS.join(", ")})`);
      }
    });
  };
  named(flow.filter_policies, "filter_policies", "filter");
  if (!Array.isArray(flow.steps) || !flow.steps.length) found.push("steps: a flow needs at least one step");
  walk(flow.steps, "steps");
  return found;
}

function palette(insert) {
  const group = (heading, kinds) => [
    el("h3", {}, heading),
    el("ul", { class: "palette" }, kinds.map((kind) => el("li", {}, el("button", { type: "button", class: "secondary", onclick: () => insert(kind), "aria-label": `Add ${kind}` }, kind)))),
  ];
  return el(
    "section", { class: "panel", "aria-labelledby": "palette-heading" },
    el("h2", { id: "palette-heading" }, "Step palette"),
    el("p", { class: "muted" }, "Adds the step at the end of the flow's steps; when the text is not JSON yet, inserts it at the cursor."),
    group("Order actions", ORDER_ACTIONS),
    group("Return actions", RETURN_ACTIONS),
    group("Either", SHARED_ACTIONS),
    group("Elements", ELEMENTS),
  );
}

// #/flows/new and #/flows/<id>/edit.
export async function renderEditor(main, flowId) {
  const record = flowId ? await get(`/flows/${encodeURIComponent(flowId)}`) : null;
  if (record && record.status === "published") {
    clear(
      main,
      el("h1", {}, `Edit ${record.name}`),
      el("p", { role: "alert" }, "This flow is published: unpublish it first, then edit it and publish it again as a new version."),
      el("p", {}, el("a", { href: `#/flows/${encodeURIComponent(record.id)}` }, "Back to the flow")),
    );
    return;
  }
  const policies = (await get("/policies")).policies || [];
  const text = el("textarea", {
    id: "flow-text", name: "flow", rows: 28, spellcheck: "false",
    "aria-describedby": "flow-text-help flow-check",
  });
  text.value = JSON.stringify(record ? definitionOf(record) : NEW_FLOW, null, 2);
  const check = el("div", { id: "flow-check" });
  const note = el("p", { class: "sr-only", role: "status", id: "palette-note" });

  function insert(kind) {
    let flow = null;
    try { flow = JSON.parse(text.value); } catch { flow = null; }
    const names = stepNames(flow);
    const unique = (base) => {
      let name = base;
      for (let n = 2; names.has(name); n += 1) name = `${base} ${n}`;
      names.add(name);
      return name;
    };
    const step = snippet(kind, unique);
    if (flow && typeof flow === "object" && Array.isArray(flow.steps)) {
      flow.steps.push(step);
      text.value = JSON.stringify(flow, null, 2);
    } else {
      const at = text.selectionStart ?? text.value.length;
      text.value = text.value.slice(0, at) + JSON.stringify(step, null, 2) + text.value.slice(text.selectionEnd ?? at);
    }
    note.textContent = `Added step '${step.name}' (${kind}).`;
  }

  function validate() {
    const found = quickCheck(text.value, policies);
    clear(check, found.length ? problemList(found, { id: "flow-problems" }) : el("p", { role: "status" }, "No problems found here; saving checks the whole flow."));
  }

  async function save() {
    let flow;
    try {
      flow = JSON.parse(text.value);
    } catch (exc) {
      throw new Error(`the text is not JSON: ${exc.message}`);
    }
    const saved = record ? await put(`/flows/${encodeURIComponent(record.id)}`, flow) : await post("/flows", flow);
    location.hash = `#/flows/${encodeURIComponent(saved.id)}`;
  }

  clear(
    main,
    el("h1", {}, record ? `Edit ${record.name}` : "New flow"),
    el("p", {}, el("a", { href: record ? `#/flows/${encodeURIComponent(record.id)}` : "#/flows" }, record ? "Back to the flow" : "Back to the flows")),
    el(
      "div", { class: "editor" },
      el(
        "div", {},
        el("label", { for: "flow-text" }, "Flow definition (JSON)"),
        el("p", { class: "muted", id: "flow-text-help" }, "name, type (order_orchestration or return_orchestration), description, input_events, filter_policies and steps: actions and elements (condition, condition_merge, splitter, splitter_merge). Problems are listed by path, e.g. steps[0].branches[1].steps[0].filter_policies[0]."),
        text,
        el("div", { class: "toolbar" }, el("button", { type: "button", class: "secondary", onclick: validate }, "Validate"), actionButton("Save", save, { into: check })),
        check,
      ),
      palette(insert),
    ),
    note,
  );
}
