// CSV uploads shared by the Mappings and Fulfillment pages: read the file as the API numbers its rows, send
// it, and show each rejected row's values next to its error.
import { request } from "../api.js";
import { clear, el } from "../ui.js";
import { problemList } from "./mappings-forms.js";

// Records as Python's csv reader (the API's) counts them: quoted values may hold line breaks, a blank line
// is a record of its own, the file's last line break does not start one. The header is record 1.
export function records(text) {
  const source = text.replace(/^\ufeff/, "");
  const out = [];
  let cells = [];
  let cell = "";
  let quoted = false;
  let started = false;
  for (let i = 0; i < source.length; i += 1) {
    const c = source[i];
    if (quoted) {
      if (c === '"' && source[i + 1] === '"') { cell += '"'; i += 1; }
      else if (c === '"') quoted = false;
      else cell += c;
      continue;
    }
    if (c === '"') { quoted = true; started = true; }
    else if (c === ",") { cells.push(cell); cell = ""; started = true; }
    else if (c === "\r" || c === "\n") {
      if (c === "\r" && source[i + 1] === "\n") i += 1;
      cells.push(cell);
      out.push(started || cell ? cells : []);
      cells = []; cell = ""; started = false;
    } else { cell += c; started = true; }
  }
  if (started || cell || cells.length) { cells.push(cell); out.push(cells); }
  return out.map((row) => row.map((value) => value.trim()));
}

// The file's header names and its rows by number (as the API's errors name them).
export function rowsByNumber(text) {
  const all = records(text);
  let header = null;
  const rows = new Map();
  all.forEach((cells, index) => {
    if (!cells.some((c) => c)) return;
    if (header === null) header = cells;
    else rows.set(index + 1, cells);
  });
  return { header: header || [], rows };
}

// The rejected rows: one line per error with the row's number, its values under the file's own columns
// (when the file could be read here) and the API's message.
export function rowErrors(text, answer, { caption = "Rows not imported" } = {}) {
  const errors = answer.errors || [];
  if (!errors.length) return null;
  const { header, rows } = rowsByNumber(text);
  const named = header.map((name, index) => ({ name: name || `column ${index + 1}`, index }));
  return el(
    "table", { class: "row-errors" },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col" }, "Row"),
      named.map((c) => el("th", { scope: "col" }, c.name)),
      el("th", { scope: "col" }, "Column"),
      el("th", { scope: "col" }, "Error"),
    )),
    el("tbody", {}, errors.map((error) => {
      const cells = rows.get(error.row) || [];
      return el("tr", { dataset: { row: error.row } },
        el("th", { scope: "row" }, String(error.row)),
        named.map((c) => el("td", {}, cells[c.index] ?? "")),
        el("td", {}, error.field || "—"),
        el("td", {}, error.message),
      );
    })),
  );
}

// An upload form: a file, optional extra controls, and an Import button; `summary(answer)` says what the
// answer did. `done(answer)` runs after a successful upload (to reload what it changed).
export function uploadForm({ id, heading, path, help, extra = [], params = () => ({}), summary, done }) {
  const file = el("input", { type: "file", id: `${id}-file`, accept: ".csv,text/csv" });
  const result = el("div", { id: `${id}-result`, role: "status" });
  const button = el("button", { type: "submit" }, "Import");
  const form = el(
    "form", { class: "panel upload", id, "aria-labelledby": `${id}-heading`, novalidate: true },
    el("h2", { id: `${id}-heading` }, heading),
    help ? el("p", { class: "muted" }, help) : null,
    el("div", { class: "toolbar" }, el("label", {}, "CSV file", file), extra, button),
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) {
      clear(result, problemList(["Choose a CSV file to import."]));
      file.focus();
      return;
    }
    button.disabled = true;
    clear(result, el("p", { class: "muted" }, `Importing ${chosen.name}…`));
    try {
      const text = await chosen.text();
      const query = new URLSearchParams(Object.entries(params()).filter(([, v]) => v)).toString();
      const answer = await request("POST", `${path}${query ? "?" + query : ""}`, text, { raw: true, contentType: "text/csv" });
      clear(
        result,
        el("p", { class: answer.errors?.length ? "problems" : "" }, summary(answer)),
        rowErrors(text, answer),
        answer.errors_omitted ? el("p", { class: "muted" }, `${answer.errors_omitted} more errors are not listed.`) : null,
      );
      if (done) await done(answer);
    } catch (exc) {
      clear(result, el("p", {}, `${chosen.name} was not imported:`), problemList(exc));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}
