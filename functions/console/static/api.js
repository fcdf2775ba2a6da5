// The admin API, same origin as the console: JSON in and out, credentials from auth.js, errors as ApiError
// (the API's {"error": {"code", "message", "field"}}).
import { authorise } from "./auth.js";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.field = error.field || null;
    this.problems = error.problems || (error.message ? error.message.split("; ") : []);
    this.body = body;
  }
}

// The API's base: the console is served at <base>/console/, the API at <base>/.
export const base = location.pathname.replace(/\/console\/.*$/, "").replace(/\/console$/, "");

export async function request(method, path, body, { raw = false, contentType = "application/json" } = {}) {
  const url = `${location.origin}${base}${path}`;
  const payload = body === undefined ? undefined : (raw ? body : JSON.stringify(body));
  const headers = body === undefined ? {} : { "Content-Type": contentType };
  Object.assign(headers, await authorise(method, url, headers, payload ?? ""));
  const answer = await fetch(url, { method, headers, body: payload });
  const text = await answer.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = text; }
  if (answer.status === 401) {
    document.dispatchEvent(new CustomEvent("console:unauthorised"));
  }
  if (!answer.ok) throw new ApiError(answer.status, parsed);
  return parsed;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
export const put = (path, body) => request("PUT", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

// A query string from an object, leaving out empty values.
export function query(params) {
  const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "" && v !== false);
  return pairs.length ? "?" + new URLSearchParams(pairs.map(([k, v]) => [k, String(v)])).toString() : "";
}
