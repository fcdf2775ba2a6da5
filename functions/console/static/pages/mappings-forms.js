// Labelled form controls whose problem (the API's error naming their field) is shown next to them; shared by
// the Mappings and Fulfillment pages.
import { clear, el } from "../ui.js";

let counter = 0;

// A labelled control for the API field `name` (a dotted path such as "address.city"); `hint` is shown
// under the control. Returns the field's element; the control is `.control` on it.
export function input(label, name, { type = "text", value = "", hint, required, options, checked, readonly, min, step } = {}) {
  counter += 1;
  const id = `f${counter}-${name.replace(/[^a-z0-9]+/gi, "-")}`;
  const problemId = `${id}-problem`;
  const hintId = hint ? `${id}-hint` : null;
  const common = {
    id, name, dataset: { field: name }, "aria-describedby": [hintId, problemId].filter(Boolean).join(" "),
    "aria-required": required ? "true" : null, readonly,
  };
  let control;
  if (options) {
    control = el("select", common, options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
  } else if (type === "checkbox") {
    control = el("input", { ...common, type, checked });
  } else {
    control = el("input", { ...common, type, value: value ?? "", min, step, autocomplete: "off" });
  }
  // The label holds only its words (the accessible name); hint and problem are described-by text.
  const words = el("label", { for: id }, label, required ? el("span", { class: "muted" }, " (required)") : null);
  const wrap = el(
    "div", { class: type === "checkbox" ? "field check" : "field" },
    type === "checkbox" ? [control, words] : [words, control],
    hint ? el("span", { class: "muted hint", id: hintId }, hint) : null,
    el("span", { class: "field-problem", id: problemId }),
  );
  wrap.control = control;
  return wrap;
}

// Clears every field's problem in `form`, then shows the API's error: next to the field it names (which is
// marked invalid and focused), and in full in `summary`.
export function showProblem(form, summary, error) {
  clearProblems(form, summary);
  if (!error) return;
  clear(summary, problemList(error));
  const target = error.field && [...form.querySelectorAll("[data-field]")].find((c) => c.dataset.field === error.field);
  if (target) {
    target.setAttribute("aria-invalid", "true");
    const note = form.querySelector(`#${CSS.escape(target.id)}-problem`);
    if (note) note.textContent = error.message;
    target.focus();
  }
}

export function clearProblems(form, summary) {
  for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  for (const note of form.querySelectorAll(".field-problem")) note.textContent = "";
  clear(summary);
}

// The value of the control for `name` in `form`: trimmed text, or a checkbox's state.
export function valueOf(form, name) {
  const control = [...form.querySelectorAll("[data-field]")].find((c) => c.dataset.field === name);
  if (!control) return undefined;
  return control.type === "checkbox" ? control.checked : control.value.trim();
}

// A whole number typed into a field, or the text itself so that the API names the field when it is not one;
// undefined when empty.
export function wholeNumber(text) {
  if (text === "" || text === undefined) return undefined;
  return /^-?\d+$/.test(text) ? Number(text) : text;
}

export function decimal(text) {
  if (text === "" || text === undefined) return undefined;
  const number = Number(text);
  return Number.isFinite(number) ? number : text;
}

// The problems of an API error (or a list of strings) as a list inside an alert (a list that is itself
// the alert stops being a list to assistive technology).
export function problemList(error) {
  const list = Array.isArray(error) ? error : (error?.problems?.length ? error.problems : [error?.message || String(error)]);
  return el("div", { role: "alert" }, el("ul", { class: "problems" }, list.map((p) => el("li", {}, p))));
}
