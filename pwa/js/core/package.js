// The work package on the phone: the signed-in manager's visits, fetched from the server and merged so that
// a fresh package never overwrites a visit the phone still holds work for
// (docs/decisions/0009-work-package-merge.md).
import * as store from "./store.js";
import { HttpError, request } from "./api.js";
import { keepTiles } from "./tiles.js";

// Fetches the package (or hears it is unchanged); resolves with how many visits the phone now has.
export async function downloadPackage() {
  const etag = await store.get("kv", "packageEtag");
  const answer = await request("/api/v1/me/work-package", { headers: etag ? { "If-None-Match": etag } : {} });
  if (answer.status !== 304) {
    if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
    const pkg = await answer.json();
    await store.replaceAll("visits", await mergePackage(pkg.visits));
    await store.put("kv", answer.headers.get("ETag"), "packageEtag");
  }
  const entries = await store.all("visits");
  await keepPreviousPhotos(entries);
  await keepTiles(entries);
  return entries.length;
}

// Last time's photos of each visit's subject, kept on the phone with the package (their thumbnails, a few
// kilobytes each), so the manager can frame the same views offline. Those no visit needs any more go.
const THUMB = "thumb:";
async function keepPreviousPhotos(entries) {
  const wanted = new Map(
    entries.flatMap((entry) => (entry.previous_visit?.photos || []).map((photo) => [THUMB + photo.id, photo])),
  );
  const kept = new Set((await store.keys("kv")).filter((key) => String(key).startsWith(THUMB)));
  for (const key of kept) if (!wanted.has(key)) await store.del("kv", key);
  for (const [key, photo] of wanted) {
    if (kept.has(key)) continue;
    try {
      const answer = await request(photo.thumbnail);
      if (answer.ok) await store.put("kv", await answer.blob(), key);
    } catch {
      return; // offline half-way: the next download fetches the rest
    }
  }
}

// A previous photo's thumbnail as a URL an <img> can show, from the phone; "" when it is not kept.
export async function previousPhotoUrl(photoId) {
  const blob = await store.get("kv", THUMB + photoId);
  return blob ? URL.createObjectURL(blob) : "";
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
