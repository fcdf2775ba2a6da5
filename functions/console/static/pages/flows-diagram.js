// A flow's Mermaid flowchart, drawn by the vendored mermaid (loaded once, on the first flow page shown).
import { get } from "../api.js";
import { clear, el } from "../ui.js";
import { problemList } from "./flows-problems.js";

const MERMAID = "vendor/mermaid-11.12.2.min.js";
let loading = null;
let drawn = 0;

// A classic script element: the bundle sets window.mermaid; the CSP allows same-origin scripts only.
function mermaid() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = el("script", { src: MERMAID });
      script.addEventListener("load", () => {
        window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
        resolve(window.mermaid);
      });
      script.addEventListener("error", () => {
        loading = null;
        reject(new Error("the diagram library could not be loaded"));
      });
      document.head.append(script);
    });
  }
  return loading;
}

// The diagram of the flow's current definition, in `into`; its text stays readable when drawing fails.
export async function drawDiagram(into, flowId) {
  clear(into, el("p", { class: "muted" }, "Drawing the diagram…"));
  let text = "";
  try {
    text = await get(`/flows/${encodeURIComponent(flowId)}/diagram`);
    const library = await mermaid();
    drawn += 1;
    const { svg } = await library.render(`flow-diagram-${drawn}`, text);
    const figure = el("figure", { class: "diagram", "aria-label": "Flow diagram" });
    // mermaid's strict security level sanitises the labels before it builds the SVG.
    figure.innerHTML = svg;
    const drawing = figure.querySelector("svg");
    // mermaid's own roles stay, so that a screen reader can still read the steps' labels.
    if (drawing) drawing.setAttribute("aria-label", "Flowchart of the flow's steps, branches and where failures go");
    clear(into, figure, el("details", {}, el("summary", {}, "Mermaid text"), el("pre", {}, text)));
  } catch (exc) {
    clear(into, problemList([`The diagram could not be drawn: ${exc.message || exc}`]), text ? el("pre", {}, text) : null);
  }
}
