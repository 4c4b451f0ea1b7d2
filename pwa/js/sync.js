// The outbox: each part (a submission, each photo) uploads on its own and keeps its own state.
// Photos go over tus, resumably: after a cut the server says how much it has and only the rest is sent.
// One uploader at a time (a Web Lock shared by the page and the service worker).
import * as db from "./db.js";
import { HttpError, request } from "./api.js";

const CHUNK = 256 * 1024;
const listeners = new Set();
export function onChange(listener) { listeners.add(listener); return () => listeners.delete(listener); }
function changed(item) { for (const listener of listeners) listener(item); }

async function save(item) { await db.put("outbox", item); changed(item); }

export async function pending() {
  return (await db.all("outbox")).filter((item) => item.state !== "done");
}

// The parts by state: what the app says about syncing is derived from all of them, so a refused or
// unsent part can never read as synced.
export function tally(items) {
  const counts = { waiting: 0, uploading: 0, failed: 0, done: 0 };
  for (const item of items) counts[item.state] = (counts[item.state] || 0) + 1;
  return counts;
}

function b64(text) { return btoa(unescape(encodeURIComponent(text))); }

async function uploadPhoto(item) {
  if (!item.uploadUrl) {
    const meta = {
      photo_id: item.id, visit_id: item.visitId, item_key: item.itemKey, content_type: item.type || "image/jpeg",
      sha256: item.sha256, taken_at: item.takenAt,
      ...(item.fix ? { fix_lat: String(item.fix.lat), fix_lon: String(item.fix.lon), fix_accuracy: String(item.fix.accuracy_m) } : {}),
    };
    const created = await request("/api/v1/uploads/", {
      method: "POST",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(item.size), "Upload-Metadata": Object.entries(meta).filter(([, v]) => v).map(([k, v]) => `${k} ${b64(v)}`).join(",") },
    });
    if (created.status === 200) return true; // an older server: it already holds these bytes
    if (created.status !== 201) throw new HttpError(created.status, await created.json().catch(() => ({})));
    // A photo the server already holds comes back as an upload that is already complete.
    if (created.headers.get("Fieldvisit-Photo-Id")) return true;
    item.uploadUrl = created.headers.get("Location");
    await save(item);
  }
  const head = await request(item.uploadUrl, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
  if (head.status === 404) { item.uploadUrl = null; await save(item); return uploadPhoto(item); }
  if (!head.ok) throw new HttpError(head.status, {});
  let offset = Number(head.headers.get("Upload-Offset") || 0);
  if (offset >= item.size && head.headers.get("Fieldvisit-Photo-Id")) return true; // the last answer was lost
  while (offset < item.size) {
    const chunk = item.blob.slice(offset, Math.min(offset + CHUNK, item.size));
    const answer = await request(item.uploadUrl, {
      method: "PATCH",
      headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
      body: chunk,
    });
    if (answer.status === 409) { offset = Number(answer.headers.get("Upload-Offset") || offset); continue; }
    if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
    offset = Number(answer.headers.get("Upload-Offset"));
    item.progress = offset / item.size;
    await save(item);
    if (answer.headers.get("Fieldvisit-Photo-Id")) return true;
  }
  return true;
}

async function sendSubmission(item) {
  const answer = await request(`/api/v1/visits/${item.visitId}/submissions/${item.id}`, {
    method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(item.body),
  });
  if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
  item.result = await answer.json();
  return true;
}

async function sendOne(item) {
  item.state = "uploading"; item.error = null;
  await save(item);
  try {
    if (item.kind === "photo") await uploadPhoto(item); else await sendSubmission(item);
    item.state = "done"; item.progress = 1; item.doneAt = new Date().toISOString();
    if (item.kind === "photo") item.blob = null; // confirmed by the server: now the copy may go
    await save(item);
  } catch (error) {
    const permanent = error instanceof HttpError && error.status >= 400 && error.status < 500 && ![401, 408, 423, 429].includes(error.status);
    item.state = permanent ? "failed" : "waiting";
    // The server's reason comes in the user's language; no answer at all is said by the app, not as the
    // browser's "Failed to fetch".
    item.error = error instanceof HttpError ? error.message : null;
    item.errorKind = error instanceof HttpError ? "server" : "network";
    await save(item);
    if (!permanent) throw error; // the caller decides: stop the round (no network) or go on (5xx)
  }
}

// Upload everything waiting. Resolves with how many parts are still not done.
export async function syncOutbox() {
  const run = async () => {
    const items = (await db.all("outbox")).filter((item) => item.state !== "done" && item.state !== "failed");
    items.sort((a, b) => (a.kind === b.kind ? a.createdAt.localeCompare(b.createdAt) : a.kind === "submission" ? -1 : 1));
    for (const item of items) {
      try {
        await sendOne(item);
      } catch (error) {
        // No answer at all: the network is gone, so stop this round. A server error (5xx) is about this
        // part only: it waits for the next round and the parts behind it go on.
        if (!(error instanceof HttpError)) break;
      }
    }
    return (await pending()).filter((item) => item.state !== "failed").length;
  };
  if (typeof navigator !== "undefined" && navigator.locks) return navigator.locks.request("outbox-sync", run);
  return run();
}

export async function retryFailed() {
  for (const item of await db.all("outbox")) {
    if (item.state === "failed") { item.state = "waiting"; await save(item); }
  }
}
