// Small DOM helpers shared by the pages: elements, tables, statuses, problems, toasts, polling.

// el("button", {type: "button", onclick: f, class: "secondary"}, "Save") — attributes starting with
// "on" are listeners; children are nodes or text; null/false children are skipped.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export function status(value) {
  const text = value === null || value === undefined || value === "" ? "—" : String(value);
  return el("span", { class: `status ${text.replace(/[^a-z_]/gi, "_").toLowerCase()}` }, text.replace(/_/g, " "));
}

// table({caption, columns: [{label, value: (row) => node|text}], rows, empty})
export function table({ caption, columns, rows, empty = "Nothing here yet.", id }) {
  if (!rows.length) return el("p", { class: "muted", id }, empty);
  return el(
    "table", { id },
    caption ? el("caption", {}, caption) : null,
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c.label)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, c.value(row)))))),
  );
}

// The problems of an API error (or a list of strings), each on its own line, announced to screen readers.
export function problems(error, { id } = {}) {
  const list = Array.isArray(error) ? error : (error?.problems?.length ? error.problems : [error?.message || String(error)]);
  // The alert wraps the list: a list's items must stay in their list for assistive technology.
  return el("div", { role: "alert", id }, el("ul", { class: "problems" }, list.map((p) => el("li", {}, p))));
}

export function toast(message, { error = false } = {}) {
  const box = document.getElementById("toasts");
  const item = el("div", { class: `toast${error ? " error" : ""}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), error ? 9000 : 4000);
}

export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function money(amount, currency = "") {
  if (amount === null || amount === undefined || amount === "") return "—";
  const number = Number(amount);
  return `${Number.isFinite(number) ? number.toFixed(2) : amount}${currency ? " " + currency : ""}`;
}

// Calls `tick` every `ms` until the page is left (the router calls the returned stop); errors are toasted once.
export function poll(tick, ms = 2000) {
  let stopped = false;
  let warned = false;
  async function loop() {
    while (!stopped) {
      try { await tick(); warned = false; } catch (exc) { if (!warned) toast(String(exc.message || exc), { error: true }); warned = true; }
      await new Promise((resolve) => setTimeout(resolve, ms));
    }
  }
  loop();
  return () => { stopped = true; };
}

// A button that runs an async action, disabled while it runs; failures are toasted (or shown in `into`).
export function action(label, run, { into, cls, id, describedby } = {}) {
  const button = el("button", { type: "button", class: cls, id, "aria-describedby": describedby }, label);
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (into) clear(into);
      await run();
    } catch (exc) {
      if (into) clear(into, problems(exc)); else toast(exc.message || String(exc), { error: true });
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

export function field(label, control) {
  return el("label", {}, label, control);
}

export function download(name, text, type = "text/csv") {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}
