// Sign-in. Locally (config mode "token"): the admin token, asked once and kept for the tab.
import { el, clear } from "./ui.js";

const KEY = "orderflow.adminToken";
let settings = null;

export async function config() {
  if (!settings) {
    const answer = await fetch("config.json", { cache: "no-store" });
    settings = answer.ok ? await answer.json() : { mode: "token" };
  }
  return settings;
}

export async function mode() {
  return (await config()).mode;
}

export async function ensureSignedIn(main) {
  if (sessionStorage.getItem(KEY)) return;
  await new Promise((resolve) => {
    const input = el("input", { type: "password", id: "admin-token", name: "token", autocomplete: "off", required: true });
    const form = el(
      "form", { class: "panel", id: "sign-in" },
      el("h1", {}, "Sign in"),
      el("p", {}, "Enter the admin token (ADMIN_API_TOKEN; make serve prints it). It is kept for this tab only."),
      el("label", {}, "Admin token", input),
      el("p", {}, el("button", { type: "submit" }, "Sign in")),
    );
    const refused = el("p", { class: "problems", role: "alert", id: "sign-in-problem" });
    form.append(refused);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const token = input.value.trim();
      // Checked once here, so that a wrong token is said at once rather than by the first page.
      const base = location.pathname.replace(/\/console(\/.*)?$/, "");
      const answer = await fetch(`${location.origin}${base}/health`, { headers: { Authorization: `Bearer ${token}` } });
      if (answer.status === 401 || answer.status === 403) {
        refused.textContent = "That token was refused: check ADMIN_API_TOKEN (make serve prints it).";
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "sign-in-problem");
        input.focus();
        return;
      }
      sessionStorage.setItem(KEY, token);
      resolve();
    });
    clear(main, form);
    input.focus();
  });
}

export async function authorise() {
  const token = sessionStorage.getItem(KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
