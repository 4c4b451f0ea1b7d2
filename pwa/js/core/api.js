// The API with the signed-in user's tokens. A week offline is fine: the refresh token (30 days, rotating)
// signs the manager back in; only when it is refused does the app ask for the password, and the outbox
// is never touched by signing in or out. The session lives in the phone's own database; signing in binds
// every other read and write to the signed-in user's database (db.js).
import * as db from "./store.js";

export class AuthError extends Error {}
export class HttpError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
}

let session = null; // {access, refresh, expiresAt, user}

export async function loadSession() {
  session ??= (await db.deviceGet("session")) || null;
  if (session?.user?.id) await db.bind(session.user.id);
  return session;
}

async function saveSession(tokens, user) {
  session = {
    access: tokens.access_token,
    refresh: tokens.refresh_token,
    expiresAt: Date.now() + (tokens.expires_in - 30) * 1000,
    user: user || session?.user,
  };
  await db.devicePut("session", session);
}

export async function signIn(username, password) {
  const form = new URLSearchParams({ username, password });
  const answer = await fetch("/api/v1/auth/token", { method: "POST", body: form, headers: acceptLanguage() });
  if (!answer.ok) throw new HttpError(answer.status, await problem(answer));
  const tokens = await answer.json();
  session = { access: tokens.access_token };
  const me = await (await fetch("/api/v1/me", { headers: { Authorization: `Bearer ${tokens.access_token}` } })).json();
  await saveSession(tokens, me);
  await db.bind(me.id);
  return me;
}

export async function signOut() {
  if (session?.refresh) {
    fetch("/api/v1/auth/revoke", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: session.refresh }),
    }).catch(() => {});
  }
  session = null;
  await db.deviceDel("session");
  db.unbind();
}

let refreshing = null;
async function refresh() {
  refreshing ??= (async () => {
    const current = await loadSession();
    if (!current?.refresh) throw new AuthError("no session");
    const answer = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh }),
    });
    if (answer.status === 401) {
      session = { ...current, access: null, refresh: null };
      await db.devicePut("session", session);
      throw new AuthError("session expired");
    }
    if (!answer.ok) throw new HttpError(answer.status, await problem(answer));
    await saveSession(await answer.json());
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

function acceptLanguage() {
  const lang = (typeof localStorage !== "undefined" && localStorage.getItem("fv.lang")) || "zh-CN";
  return { "Accept-Language": lang === "en" ? "en" : "zh-CN" };
}

async function problem(answer) {
  try {
    return await answer.json();
  } catch {
    return {};
  }
}

// A valid access token, refreshed first when it has expired (tus-js-client asks before each request).
export async function accessToken() {
  const current = await loadSession();
  if (!current?.refresh) throw new AuthError("not signed in");
  if (!current.access || Date.now() > current.expiresAt) await refresh();
  return session.access;
}

export async function refreshNow() {
  await refresh();
}

export function languageHeader() {
  return acceptLanguage();
}

// fetch with the access token; refreshes it once when it has expired.
export async function request(path, options = {}) {
  const current = await loadSession();
  if (!current?.refresh) throw new AuthError("not signed in");
  if (!current.access || Date.now() > current.expiresAt) await refresh();
  const send = () =>
    fetch(path, {
      ...options,
      headers: { ...acceptLanguage(), ...(options.headers || {}), Authorization: `Bearer ${session.access}` },
    });
  let answer = await send();
  if (answer.status === 401) {
    await refresh();
    answer = await send();
  }
  return answer;
}

export async function json(path, options = {}) {
  const init = { ...options };
  if (options.body !== undefined && typeof options.body !== "string") {
    init.body = JSON.stringify(options.body);
    init.headers = { ...(options.headers || {}), "Content-Type": "application/json" };
  }
  const answer = await request(path, init);
  if (answer.status === 304) return null;
  if (!answer.ok) throw new HttpError(answer.status, await problem(answer));
  return answer.status === 204 ? null : answer.json();
}

// A photo (thumbnail, preview) the API serves behind the token, as a URL an <img> can show; "" without one.
export async function objectUrl(path) {
  try {
    const answer = await request(path);
    return answer.ok ? URL.createObjectURL(await answer.blob()) : "";
  } catch {
    return "";
  }
}

// A file the API serves behind the token, saved under its name (an export, a report, a case's attachment).
export async function download(path, name) {
  const answer = await request(path);
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await answer.blob());
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
}
