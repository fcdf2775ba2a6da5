// flows page (see issue 18).
import { clear, el } from "../ui.js";

export async function render(main) {
  clear(main, el("h1", {}, "Flows"), el("p", { class: "muted" }, "Coming soon."));
}
