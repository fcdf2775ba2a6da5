// Flows: the list, a flow's page (diagram, versions and their ASL, publish / unpublish, dry run) and its editor.
import { get, post, query } from "../api.js";
import { clear, el, status, table, toast, when } from "../ui.js";
import { drawDiagram } from "./flows-diagram.js";
import { dryRunSection } from "./flows-dry-run.js";
import { renderEditor } from "./flows-editor.js";
import { actionButton } from "./flows-problems.js";

const flowPath = (id) => `/flows/${encodeURIComponent(id)}`;
const flowLink = (id) => `#/flows/${encodeURIComponent(id)}`;

async function renderList(main) {
  const { flows } = await get("/flows");
  clear(
    main,
    el("h1", {}, "Flows"),
    el("p", {}, el("a", { href: "#/flows/new", class: "button-link" }, "New flow")),
    table({
      caption: "Flows",
      columns: [
        { label: "Name", value: (f) => el("a", { href: flowLink(f.id) }, f.name) },
        { label: "Type", value: (f) => f.type.replace(/_/g, " ") },
        { label: "Status", value: (f) => status(f.status) },
        { label: "Version", value: (f) => (f.published_version ? `${f.version} (live: ${f.published_version})` : String(f.version)) },
        { label: "Created on", value: (f) => f.created_on || "—" },
        { label: "Updated", value: (f) => when(f.updated_at) },
      ],
      rows: flows,
      empty: "No flows yet: create one with “New flow”.",
    }),
  );
}

// The ASL of a published version, or of the current definition as it would be published.
function versionsSection(flow) {
  const versions = [...(flow.versions || [])].sort((a, b) => b - a);
  const choice = el(
    "select", { id: "asl-version", name: "version" },
    versions.map((v) => el("option", { value: String(v) }, `Version ${v}${v === flow.published_version ? " (live)" : ""}`)),
    el("option", { value: "" }, "Current definition (as it would be published)"),
  );
  const asl = el("pre", { id: "asl", role: "region", "aria-label": "ASL", tabindex: "0" }, "Loading…");
  async function show() {
    const version = choice.value ? Number(choice.value) : undefined;
    asl.setAttribute("aria-label", version ? `ASL of version ${version}` : "ASL of the current definition");
    try {
      const machine = await get(`${flowPath(flow.id)}/asl${query({ version })}`);
      asl.textContent = JSON.stringify(machine, null, 2);
    } catch (exc) {
      asl.textContent = `The ASL could not be made: ${exc.message}`;
    }
  }
  choice.addEventListener("change", show);
  show();
  return el(
    "section", { "aria-labelledby": "versions-heading" },
    el("h2", { id: "versions-heading" }, "Versions"),
    el("p", {}, versions.length ? `Published versions: ${versions.join(", ")}.` : "Not published yet."),
    el("div", { class: "toolbar" }, el("label", {}, "Show the ASL of", choice)),
    asl,
  );
}

async function renderFlow(main, flowId) {
  const flow = await get(flowPath(flowId));
  const outcome = el("div", { id: "flow-actions-problems" });
  const reload = async (message) => {
    await renderFlow(main, flowId);
    toast(message);
  };
  const diagram = el("div", { id: "diagram" });
  clear(
    main,
    el("p", {}, el("a", { href: "#/flows" }, "All flows")),
    el("h1", {}, flow.name),
    el(
      "dl", { class: "facts" },
      el("dt", {}, "Status"), el("dd", {}, status(flow.status)),
      el("dt", {}, "Version"), el("dd", {}, String(flow.version)),
      el("dt", {}, "Type"), el("dd", {}, flow.type.replace(/_/g, " ")),
      el("dt", {}, "Starts on"), el("dd", {}, (flow.input_events || []).join(", ") || "—"),
      el("dt", {}, "Created on"), el("dd", {}, flow.created_on || "—"),
      el("dt", {}, "Updated"), el("dd", {}, when(flow.updated_at)),
    ),
    flow.description ? el("p", {}, flow.description) : null,
    el(
      "div", { class: "toolbar" },
      actionButton("Publish", async () => {
        const published = await post(`${flowPath(flowId)}/publish`);
        await reload(`Published as version ${published.published_version}.`);
      }, { into: outcome }),
      actionButton("Unpublish", async () => {
        await post(`${flowPath(flowId)}/unpublish`);
        await reload("Unpublished: new orders no longer reach this flow.");
      }, { into: outcome, cls: "secondary" }),
      flow.status === "published"
        ? el("span", { class: "muted" }, "Unpublish the flow to edit it.")
        : el("a", { href: `${flowLink(flowId)}/edit` }, "Edit"),
    ),
    outcome,
    el("section", { "aria-labelledby": "diagram-heading" }, el("h2", { id: "diagram-heading" }, "Diagram"), diagram),
    versionsSection(flow),
    await dryRunSection(flow),
  );
  await drawDiagram(diagram, flowId);
}

export async function render(main, params = []) {
  const [first, second] = params;
  if (!first) return renderList(main);
  if (first === "new") return renderEditor(main, null);
  if (second === "edit") return renderEditor(main, first);
  return renderFlow(main, first);
}
