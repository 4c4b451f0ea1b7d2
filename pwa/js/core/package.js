// The work package on the phone: the signed-in manager's visits, fetched from the server and merged so that
// a fresh package never overwrites a visit the phone still holds work for
// (docs/decisions/0009-work-package-merge.md).
import * as store from "./store.js";
import { HttpError, request } from "./api.js";

// Fetches the package (or hears it is unchanged); resolves with how many visits the phone now has.
export async function downloadPackage() {
  const etag = await store.get("kv", "packageEtag");
  const answer = await request("/api/v1/me/work-package", { headers: etag ? { "If-None-Match": etag } : {} });
  if (answer.status === 304) return (await store.all("visits")).length;
  if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
  const pkg = await answer.json();
  await store.replaceAll("visits", await mergePackage(pkg.visits));
  await store.put("kv", answer.headers.get("ETag"), "packageEtag");
  return pkg.visits.length;
}

export async function refreshPackageQuietly() {
  try {
    await downloadPackage();
  } catch {
    /* offline or signed out: later */
  }
}

// The phone's copy wins for a visit held by a draft or by a part the server has not confirmed. Otherwise the
// server's copy wins, and a visit the package no longer lists goes.
export async function mergePackage(fresh) {
  const held = new Set([
    ...(await store.all("outbox")).filter((item) => item.state !== "done").map((item) => item.visitId),
    ...(await store.keys("drafts")),
  ]);
  const local = new Map((await store.all("visits")).map((entry) => [entry.visit.id, entry]));
  const merged = fresh.map((entry) =>
    held.has(entry.visit.id) && local.has(entry.visit.id) ? local.get(entry.visit.id) : entry,
  );
  const listed = new Set(fresh.map((entry) => entry.visit.id));
  for (const [id, entry] of local) if (held.has(id) && !listed.has(id)) merged.push(entry);
  return merged;
}

export const visitEntries = () => store.all("visits");
export const visitEntry = (id) => store.get("visits", id);
export const visitIds = () => store.keys("visits");

// The last GPS fix, for the distance to each site on the visit list.
export const lastFix = () => store.get("kv", "lastFix");
export const rememberFix = (fix) => store.put("kv", fix, "lastFix");
