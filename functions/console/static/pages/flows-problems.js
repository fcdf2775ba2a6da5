// Problems shown by path, for the flow and policy pages: an alert around a real list (a list given the
// alert role itself loses its list semantics), and buttons whose failures land there.
import { clear, el } from "../ui.js";

function listed(error) {
  if (Array.isArray(error)) return error;
  if (error?.problems?.length) return error.problems;
  return [error?.message || String(error)];
}

// Each problem as "<path>: <message>", the path set apart so that it reads as where to look.
export function problemList(error, { id } = {}) {
  const items = listed(error).map((text) => {
    const at = text.indexOf(": ");
    const path = at > 0 ? text.slice(0, at) : "";
    return /^[\w.[\]]+$/.test(path) ? el("li", {}, el("code", {}, path), text.slice(at)) : el("li", {}, text);
  });
  return el("div", { role: "alert", id }, el("ul", { class: "problems" }, items));
}

// A button that runs `run`, disabled meanwhile; its problems replace what `into` shows.
export function actionButton(label, run, { into, cls } = {}) {
  const button = el("button", { type: "button", class: cls }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    clear(into);
    try {
      await run();
    } catch (exc) {
      clear(into, problemList(exc));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
