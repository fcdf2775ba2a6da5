// Policies: the list of filter and execution policies, and a policy's page with the rule builder, publish / unpublish.
import { get, post, put } from "../api.js";
import { clear, el, status, table, toast, when } from "../ui.js";
import { actionButton, problemList } from "./flows-problems.js";
import { fieldLists, RuleGroup } from "./policies-rules.js";

const policyPath = (id) => `/policies/${encodeURIComponent(id)}`;
const policyLink = (id) => `#/policies/${encodeURIComponent(id)}`;
const APPLIES_TO = [["order", "the order"], ["lines", "each line"], ["return", "the return"]];

async function renderList(main) {
  const { policies } = await get("/policies");
  clear(
    main,
    el("h1", {}, "Policies"),
    el("p", {}, "Filter policies decide whether a flow or a step applies to an order; execution policies are rules a step checks."),
    el("p", {}, el("a", { href: "#/policies/new" }, "New policy")),
    table({
      caption: "Policies",
      columns: [
        { label: "Name", value: (p) => el("a", { href: policyLink(p.id) }, p.name) },
        { label: "Kind", value: (p) => p.kind },
        { label: "Applies to", value: (p) => p.applies_to },
        { label: "Criticality", value: (p) => p.criticality || "—" },
        { label: "Status", value: (p) => status(p.status) },
        { label: "Rules", value: (p) => p.summary },
        { label: "Updated", value: (p) => when(p.updated_at) },
      ],
      rows: policies,
      empty: "No policies yet: create one with “New policy”.",
    }),
  );
}

function select(id, options, value) {
  return el("select", { id, name: id.replace(/^policy-/, "") }, options.map(([v, label]) => el("option", { value: v, selected: v === value }, label)));
}

async function renderPolicy(main, policyId) {
  const policy = policyId ? await get(policyPath(policyId)) : null;
  const name = el("input", { id: "policy-name", name: "name", size: 40, required: true, value: policy?.name || "", readonly: Boolean(policy), "aria-describedby": policy ? "policy-name-note" : null });
  const description = el("input", { id: "policy-description", name: "description", value: policy?.description || "" });
  const kind = select("policy-kind", [["filter", "filter"], ["execution", "execution"]], policy?.kind || "filter");
  const appliesTo = select("policy-applies-to", APPLIES_TO, policy?.applies_to || "order");
  const criticality = select("policy-criticality", [["critical", "critical (a failure fails the step)"], ["information", "information (a failure is only recorded)"]], policy?.criticality || "critical");
  const criticalityField = el("label", {}, "Criticality", criticality);
  const rules = new RuleGroup({ match: policy?.match || "all", rules: policy?.rules || [] }, { subject: () => appliesTo.value });
  const outcome = el("div", { id: "policy-problems" });

  const fitKind = () => {
    criticality.disabled = kind.value !== "execution";
    criticalityField.hidden = criticality.disabled;
  };
  kind.addEventListener("change", fitKind);
  appliesTo.addEventListener("change", () => rules.setSubject());
  fitKind();

  function body() {
    const { match, rules: items } = rules.read();
    return {
      name: name.value.trim(),
      kind: kind.value,
      description: description.value.trim(),
      applies_to: appliesTo.value,
      ...(kind.value === "execution" ? { criticality: criticality.value } : {}),
      match,
      rules: items,
    };
  }

  async function save() {
    const saved = policy ? await put(policyPath(policy.id), body()) : await post("/policies", body());
    if (policy) {
      await renderPolicy(main, saved.id);
      toast(`Saved ${saved.name}.`);
    } else {
      location.hash = policyLink(saved.id);
    }
  }

  const lifecycle = policy
    ? [
      actionButton("Publish", async () => {
        await post(`${policyPath(policy.id)}/publish`);
        await renderPolicy(main, policy.id);
        toast(`Published ${policy.name}.`);
      }, { into: outcome }),
      actionButton("Unpublish", async () => {
        await post(`${policyPath(policy.id)}/unpublish`);
        await renderPolicy(main, policy.id);
        toast(`Unpublished ${policy.name}: new flow versions cannot use it.`);
      }, { into: outcome, cls: "secondary" }),
    ]
    : [];

  const form = el(
    "form", { class: "panel policy-form", id: "policy-form", novalidate: true },
    el("div", { class: "toolbar" },
      el("label", {}, "Name", name),
      el("label", { class: "wide" }, "Description", description)),
    policy ? el("p", { class: "muted", id: "policy-name-note" }, "The name is the policy's id: create a new policy to rename it.") : null,
    el("div", { class: "toolbar" },
      el("label", {}, "Kind", kind),
      el("label", {}, "Applies to", appliesTo),
      criticalityField),
    rules.node,
    fieldLists(),
    el("p", { class: "muted" }, "Fields: the suggestions, or any path into the order (e.g. ship_to[0].city), the line or the return."),
    el("div", { class: "toolbar" }, el("button", { type: "submit" }, "Save"), ...lifecycle),
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    clear(outcome);
    try {
      await save();
    } catch (exc) {
      clear(outcome, problemList(exc));
    } finally {
      button.disabled = false;
    }
  });

  clear(
    main,
    el("p", {}, el("a", { href: "#/policies" }, "All policies")),
    el("h1", {}, policy ? policy.name : "New policy"),
    policy ? el("p", {}, "Status: ", status(policy.status), ` · ${policy.summary}`) : null,
    form,
  );
}

export async function render(main, params = []) {
  const [first] = params;
  if (!first) return renderList(main);
  return renderPolicy(main, first === "new" ? null : first);
}
