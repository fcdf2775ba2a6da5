// An order's timeline: its history (status changes with reasons) and step results in time, grouped per execution.
import { el, status, when } from "../ui.js";

// A status change an action made names its flow version first ("probe-flow v1: Release").
const BY_FLOW = /^(\S+) v(\d+): /;
// A status change recorded at most this long after an execution's last step still belongs to it.
const SLACK_MS = 2000;

// Pure: history entries, step results and (optionally) the API's executions → entries in time, each
// either {kind: "status", ...} or {kind: "execution", ..., items: [steps and the status changes they made]}.
export function timeline(history = [], steps = [], executions = []) {
  const links = new Map((executions || []).map((e) => [e.name, e]));
  const groups = new Map();
  const loose = [];
  for (const step of [...steps].sort(byTime((s) => s.started_at, (s) => s.finished_at))) {
    const name = step.execution || `${step.flow_id} v${step.flow_version}`;
    let group = groups.get(name);
    if (!group) {
      const known = links.get(name) || {};
      group = {
        kind: "execution", name, flow_id: step.flow_id, flow_name: step.flow_name || step.flow_id,
        flow_version: step.flow_version, at: step.started_at, until: step.finished_at,
        console_url: known.console_url || null, items: [],
      };
      groups.set(name, group);
    }
    group.items.push({ kind: "step", at: step.started_at, ...step });
    if (step.finished_at > group.until) group.until = step.finished_at;
  }
  for (const entry of history) {
    const owner = ownerOf(entry, [...groups.values()]);
    const item = { kind: "status", at: entry.at, status: entry.status, reason: entry.reason || "" };
    if (owner) owner.items.push(item);
    else loose.push(item);
  }
  for (const group of groups.values()) group.items.sort(byTime((i) => i.at, (i) => (i.kind === "status" ? 1 : 0)));
  return [...groups.values(), ...loose].sort(byTime((i) => i.at));
}

function ownerOf(entry, groups) {
  const named = BY_FLOW.exec(entry.reason || "");
  if (!named) return null;
  const at = Date.parse(entry.at);
  const candidates = groups.filter(
    (g) => g.flow_id === named[1] && String(g.flow_version) === named[2]
      && Date.parse(g.at) <= at && at <= Date.parse(g.until) + SLACK_MS,
  );
  return candidates.length ? candidates[candidates.length - 1] : null;
}

function byTime(...keys) {
  return (a, b) => {
    for (const key of keys) {
      const x = key(a) ?? "";
      const y = key(b) ?? "";
      if (x < y) return -1;
      if (x > y) return 1;
    }
    return 0;
  };
}

// The timeline as an ordered list; each execution has a level-3 heading (flow name and version).
export function timelineList(entries) {
  if (!entries.length) return el("p", { class: "muted" }, "Nothing has happened to this order yet.");
  return el("ol", { class: "timeline orders-timeline" }, entries.map((entry, index) => (
    entry.kind === "execution" ? executionItem(entry, index) : el("li", {}, statusChange(entry))
  )));
}

function executionItem(group, index) {
  const headingId = `execution-${index}`;
  return el(
    "li", { class: "execution", dataset: { execution: group.name } },
    el("h3", { id: headingId }, `${group.flow_name} v${group.flow_version}`),
    el(
      "p", { class: "muted orders-execution" },
      "Execution ", el("code", {}, group.name), ` · started ${when(group.at)}`,
      group.console_url ? [" · ", el("a", {
        href: group.console_url, target: "_blank", rel: "noopener noreferrer",
        "aria-describedby": headingId, dataset: { key: `console:${group.name}` },
      }, "Open in Step Functions")] : null,
    ),
    el("ol", { class: "orders-steps", "aria-labelledby": headingId }, group.items.map((item) => (
      item.kind === "step" ? stepItem(item) : el("li", { class: "orders-status-change" }, statusChange(item))
    ))),
  );
}

function stepItem(step) {
  return el(
    "li", { class: `orders-step ${step.status}`, dataset: { step: step.step } },
    el("span", { class: "orders-step-name" }, step.step), " ",
    status(step.status), " ",
    el("span", { class: "muted" }, `${step.action} · ${when(step.finished_at || step.started_at)}`,
      step.attempts > 1 ? ` · ${step.attempts} attempts` : "", step.return_id ? ` · return ${step.return_id}` : ""),
    step.message ? el("div", { class: "orders-step-message" }, step.message) : null,
  );
}

function statusChange(entry) {
  return [
    el("span", { class: "orders-step-name" }, "Status "), status(entry.status),
    el("span", { class: "muted" }, ` · ${when(entry.at)}`),
    entry.reason ? el("div", { class: "orders-step-message" }, entry.reason) : null,
  ];
}
