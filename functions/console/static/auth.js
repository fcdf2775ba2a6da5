// Sign-in. Locally (config mode "token"): the admin token, asked once and kept for the tab. On AWS (mode
// "cognito"): the user pool's hosted UI (code flow with PKCE), the identity pool's short-lived AWS
// credentials for the ID token, and every admin call signed with them (SigV4), as the CLI signs its own.
import { el, clear } from "./ui.js";

const KEY = "orderflow.adminToken";
const SESSION = "orderflow.session"; // identity, tokens and credentials, for this tab only
const PENDING = "orderflow.signIn"; // the PKCE verifier, state and page while the hosted UI is open
const LEAVING = "orderflow.signingOut";
const RENEW_BEFORE_MS = 5 * 60 * 1000; // credentials renewed this long before they expire
let settings = null;
let renewing = null;

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
  const cfg = await config();
  if (cfg.mode === "cognito") return cognitoSignIn(main, cfg);
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

export async function authorise(method, url, headers, body) {
  if (settings?.mode === "cognito") {
    let session;
    try {
      session = await freshSession();
    } catch {
      // The sign-in ran out (the refresh token too): to the hosted UI, back on this page afterwards.
      return startSignIn(document.getElementById("main"), settings);
    }
    return sigv4({ method, url, body, credentials: session.credentials, region: settings.region });
  }
  const token = sessionStorage.getItem(KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  if (settings?.mode !== "cognito") return;
  const session = readSession();
  sessionStorage.removeItem(SESSION);
  if (session?.refreshToken) {
    // Revoked, so that the identity pool gives no more credentials for this sign-in (keepalive: the
    // page is leaving).
    fetch(`https://${settings.domain}/oauth2/revoke`, {
      method: "POST", keepalive: true,
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: session.refreshToken, client_id: settings.client_id }),
    }).catch(() => {});
  }
  // The hosted UI forgets its own session too; the flag carries this over a reload that may come first.
  sessionStorage.setItem(LEAVING, "1");
  location.assign(logoutUrl(settings));
}

// ---------------------------------------------------------------- Cognito

function consoleUrl() {
  // The app client's callback and sign-out URL, exactly as the stack registered it.
  const base = location.pathname.replace(/\/console(\/.*)?$/, "");
  return `${location.origin}${base}/console/index.html`;
}

function logoutUrl(cfg) {
  return `https://${cfg.domain}/logout?${new URLSearchParams({ client_id: cfg.client_id, logout_uri: consoleUrl() })}`;
}

function readSession() {
  try { return JSON.parse(sessionStorage.getItem(SESSION) || "null"); } catch { return null; }
}

async function cognitoSignIn(main, cfg) {
  if (sessionStorage.getItem(LEAVING)) {
    sessionStorage.removeItem(LEAVING);
    location.assign(logoutUrl(cfg));
    return never();
  }
  const returned = new URLSearchParams(location.search);
  if (returned.has("code") || returned.has("error")) {
    try {
      await finishSignIn(returned, cfg);
      return;
    } catch (exc) {
      return offerSignIn(main, cfg, exc.message);
    }
  }
  try {
    await freshSession();
  } catch {
    // No session in this tab (or one that can no longer be renewed): to the hosted UI.
    return startSignIn(main, cfg);
  }
}

async function startSignIn(main, cfg) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, hash: location.hash }));
  const challenge = base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const target = `https://${cfg.domain}/oauth2/authorize?${new URLSearchParams({
    response_type: "code", client_id: cfg.client_id, redirect_uri: consoleUrl(), scope: "openid email profile",
    state, code_challenge: challenge, code_challenge_method: "S256",
  })}`;
  clear(main, el("section", { class: "panel", id: "sign-in" },
    el("h1", {}, "Sign in"),
    el("p", { role: "status" }, "Taking you to the sign-in page… ", el("a", { href: target }, "Sign in"))));
  location.assign(target);
  return never();
}

// Said on the console's own page when the hosted UI sent the operator back without a code, or the code
// could not be used: a button starts again.
function offerSignIn(main, cfg, message) {
  return new Promise(() => {
    const again = el("button", { type: "button" }, "Sign in again");
    again.addEventListener("click", () => startSignIn(main, cfg));
    clear(main, el("section", { class: "panel", id: "sign-in" },
      el("h1", {}, "Sign in"),
      el("p", { class: "problems", role: "alert" }, `Signing in did not succeed: ${message}`),
      el("p", {}, again)));
    again.focus();
  });
}

async function finishSignIn(returned, cfg) {
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  // The address loses the code at once: it is single-use, and must not stay in the history.
  history.replaceState(null, "", `${location.pathname}${pending?.hash || ""}`);
  if (returned.has("error")) throw new Error(returned.get("error_description") || returned.get("error"));
  if (!pending || returned.get("state") !== pending.state) {
    throw new Error("the sign-in answer does not match the sign-in this tab started");
  }
  const tokens = await tokenRequest(cfg, {
    grant_type: "authorization_code", client_id: cfg.client_id, code: returned.get("code"),
    redirect_uri: consoleUrl(), code_verifier: pending.verifier,
  });
  await storeSession(cfg, tokens.id_token, tokens.refresh_token, null);
}

async function tokenRequest(cfg, fields) {
  const answer = await fetch(`https://${cfg.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields),
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok || !body.id_token) throw new Error(body.error_description || body.error || `the token endpoint answered ${answer.status}`);
  return body;
}

async function identityCall(cfg, action, payload) {
  const answer = await fetch(`https://cognito-identity.${cfg.region}.amazonaws.com/`, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": `AWSCognitoIdentityService.${action}` },
    body: JSON.stringify(payload),
  });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error(body.message || body.Message || `${action} answered ${answer.status}`);
  return body;
}

async function storeSession(cfg, idToken, refreshToken, identityId) {
  const logins = { [`cognito-idp.${cfg.region}.amazonaws.com/${cfg.user_pool_id}`]: idToken };
  const identity = identityId || (await identityCall(cfg, "GetId", { IdentityPoolId: cfg.identity_pool_id, Logins: logins })).IdentityId;
  const { Credentials: c } = await identityCall(cfg, "GetCredentialsForIdentity", { IdentityId: identity, Logins: logins });
  const session = {
    identityId: identity, refreshToken,
    credentials: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretKey, sessionToken: c.SessionToken },
    expires: Number(c.Expiration) * 1000, // epoch seconds in the AWS JSON protocol
  };
  sessionStorage.setItem(SESSION, JSON.stringify(session));
  return session;
}

// This tab's credentials, renewed with the refresh token when they are about to expire; one renewal at
// a time however many calls ask.
async function freshSession() {
  const session = readSession();
  if (!session) throw new Error("not signed in");
  if (session.expires - Date.now() > RENEW_BEFORE_MS) return session;
  if (!renewing) {
    renewing = (async () => {
      try {
        const tokens = await tokenRequest(settings, { grant_type: "refresh_token", client_id: settings.client_id, refresh_token: session.refreshToken });
        return await storeSession(settings, tokens.id_token, session.refreshToken, session.identityId);
      } catch (exc) {
        sessionStorage.removeItem(SESSION);
        throw exc;
      } finally {
        renewing = null;
      }
    })();
  }
  return renewing;
}

function never() {
  return new Promise(() => {});
}

// ---------------------------------------------------------------- SigV4

const encoder = new TextEncoder();

function hex(buffer) {
  return [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// RFC 3986: everything but A-Z a-z 0-9 - _ . ~ as %XY (encodeURIComponent leaves ! ' ( ) * alone).
function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

async function sha256(data) {
  return crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data);
}

async function hmac(key, text) {
  const imported = await crypto.subtle.importKey("raw", typeof key === "string" ? encoder.encode(key) : key,
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", imported, encoder.encode(text));
}

async function bodyBytes(body) {
  if (body === undefined || body === null || body === "") return "";
  if (typeof body === "string") return body;
  if (body instanceof Blob) return body.arrayBuffer();
  if (body instanceof URLSearchParams) return body.toString();
  return body; // an ArrayBuffer or a typed array
}

// The canonical query: each name and value decoded as the URL carries it ("+" is a space there, as
// URLSearchParams writes it and API Gateway reads it) and encoded again per RFC 3986, sorted.
function canonicalQuery(search) {
  if (!search || search === "?") return "";
  const decode = (text) => decodeURIComponent(text.replace(/\+/g, " "));
  return search.slice(1).split("&").filter(Boolean)
    .map((pair) => {
      const at = pair.indexOf("=");
      const [name, value] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
      return [uriEncode(decode(name)), uriEncode(decode(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

// AWS Signature Version 4 for one request: the headers to send with it (Authorization, X-Amz-Date and,
// with temporary credentials, X-Amz-Security-Token). Signed: host, x-amz-date, x-amz-security-token;
// the path is the URL's (already encoded once) encoded again, as for every service but S3.
export async function sigv4({ method, url, body = "", credentials, region, service = "execute-api", date = new Date() }) {
  const target = new URL(url, location.href);
  const amzDate = date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = amzDate.slice(0, 8);
  const headers = { host: target.host, "x-amz-date": amzDate };
  if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const path = target.pathname.split("/").map(uriEncode).join("/") || "/";
  const canonical = [
    method.toUpperCase(),
    path,
    canonicalQuery(target.search),
    names.map((name) => `${name}:${String(headers[name]).trim().replace(/\s+/g, " ")}\n`).join(""),
    names.join(";"),
    hex(await sha256(await bodyBytes(body))),
  ].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(await sha256(canonical))].join("\n");
  let key = await hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  const signature = hex(await hmac(key, toSign));
  const signed = {
    Authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
    "X-Amz-Date": amzDate,
  };
  if (credentials.sessionToken) signed["X-Amz-Security-Token"] = credentials.sessionToken;
  return signed;
}
