// The outbox: each part (a submission, each photo) uploads on its own and keeps its own state. Photos go
// through tus-js-client (the tus project's client): resumable, so after a cut only the rest is sent.
// One uploader at a time (a Web Lock shared by the page and the service worker).
import * as db from "./store.js";
import { AuthError, HttpError, accessToken, languageHeader, loadSession, refreshNow, request } from "./api.js";
import { photoBlob, refuse, settle } from "./capture.js";
import { FetchHttpStack } from "./fetch-stack.js";
import { Upload } from "../../vendor/tus.js";

// A photo under one chunk is one request (tus creation-with-upload); a cut loses little either way, since the
// server keeps every byte that arrived and tus-js-client goes on from its offset.
const CHUNK = 1024 * 1024;
const listeners = new Set();
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
function changed(item) {
  for (const listener of listeners) listener(item);
}

async function save(item) {
  await db.put("outbox", item);
  changed(item);
}

export const outboxItems = () => db.all("outbox");

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

// A tus-js-client error as the app's: the server's answer (status and problem body) or no answer at all.
function asAppError(error) {
  const response = error?.originalResponse;
  if (!response) return error;
  let problem = {};
  try {
    problem = JSON.parse(response.getBody() || "{}");
  } catch {
    /* not JSON */
  }
  return new HttpError(response.getStatus(), problem);
}

async function uploadPhoto(item) {
  const blob = item.blob || (await photoBlob(item));
  if (!blob) throw new HttpError(410, { detail: "photo missing on this phone" });
  const metadata = {
    photo_id: item.id,
    visit_id: item.visitId,
    item_key: item.itemKey,
    content_type: item.type || "image/jpeg",
    sha256: item.sha256,
    taken_at: item.takenAt,
    ...(item.fix
      ? { fix_lat: String(item.fix.lat), fix_lon: String(item.fix.lon), fix_accuracy: String(item.fix.accuracy_m) }
      : {}),
  };
  let lastSaved = 0;
  await new Promise((resolve, reject) => {
    const upload = new Upload(blob, {
      endpoint: "/api/v1/uploads/",
      uploadUrl: item.uploadUrl || null,
      chunkSize: CHUNK,
      uploadDataDuringCreation: true,
      // Our outbox remembers the upload URL; tus-js-client's localStorage fingerprints would outlive the
      // user who made them on a shared phone.
      storeFingerprintForResuming: false,
      retryDelays: [0, 1000, 3000],
      metadata: Object.fromEntries(Object.entries(metadata).filter(([, v]) => v)),
      ...(typeof XMLHttpRequest === "function" ? {} : { httpStack: new FetchHttpStack() }),
      onBeforeRequest: async (req) => {
        req.setHeader("Authorization", `Bearer ${await accessToken()}`);
        for (const [name, value] of Object.entries(languageHeader())) req.setHeader(name, value);
      },
      onShouldRetry: (error, attempt, options) => {
        const status = error?.originalResponse?.getStatus();
        if (status === 401)
          return (
            attempt < 2 &&
            refreshNow().then(
              () => true,
              () => false,
            )
          );
        // The server lost what it had received of this upload (410 upload_lost) and forgot it: asked again,
        // tus-js-client's HEAD hears 404 and it creates a new upload from the photo still on the phone.
        const lost = status === 410 && asAppError(error).problem?.code === "upload_lost";
        const transient = !status || status >= 500 || lost || [408, 409, 423, 429].includes(status);
        return (
          transient && attempt < options.retryDelays.length && (typeof navigator === "undefined" || navigator.onLine)
        );
      },
      onUploadUrlAvailable: async () => {
        item.uploadUrl = upload.url;
        await save(item);
      },
      onProgress: (sent, total) => {
        item.progress = total ? sent / total : 0;
        changed(item); // the screen shows the percent; the record is saved per chunk below
      },
      onChunkComplete: async (_size, accepted, total) => {
        item.progress = total ? accepted / total : 0;
        if (accepted - lastSaved >= CHUNK || accepted === total) {
          lastSaved = accepted;
          await save(item);
        }
      },
      onSuccess: resolve,
      onError: (error) => reject(asAppError(error)),
    });
    upload.start();
  });
}

// A part sent as JSON under its own id (a submission, a contact): the server keeps it once however often it
// is sent. Resolves with the server's answer.
async function putPart(path, body) {
  const answer = await request(path, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
  return answer.json();
}

// A contact recorded on the phone: a part of its own in the outbox (edited again while it waits or after a
// refusal, under the same id, since the server has kept nothing under it).
export async function saveContact({ id, visitId, borrower, body }) {
  const before = await db.get("outbox", id);
  if (before && before.state === "done") return;
  await save({
    id,
    kind: "contact",
    visitId: visitId || undefined,
    borrower,
    body,
    state: "waiting",
    createdAt: before?.createdAt || new Date().toISOString(),
  });
}

async function sendOne(item) {
  item.state = "uploading";
  item.error = null;
  item.errorKind = null;
  await save(item);
  try {
    if (item.kind === "photo") await uploadPhoto(item);
    else if (item.kind === "contact") await putPart(`/api/v1/contacts/${item.id}`, item.body);
    else item.result = await putPart(`/api/v1/visits/${item.visitId}/submissions/${item.id}`, item.body);
    item.state = "done";
    item.progress = 1;
    item.doneAt = new Date().toISOString();
    delete item.blob; // confirmed by the server: now the phone's copy may go
    await save(item);
    if (item.visitId) await settle(item.visitId);
  } catch (error) {
    if (error instanceof AuthError) {
      item.state = "waiting";
      await save(item);
      throw error;
    }
    const permanent =
      error instanceof HttpError &&
      error.status >= 400 &&
      error.status < 500 &&
      ![401, 408, 423, 429].includes(error.status);
    item.state = permanent ? "failed" : "waiting";
    // The server's reason comes in the user's language; no answer at all is said by the app, not as the
    // browser's "Failed to fetch".
    item.error = error instanceof HttpError ? error.message : null;
    item.errorKind = error instanceof HttpError ? (error.status >= 500 ? "server" : "refused") : "network";
    item.status = error instanceof HttpError ? error.status : null;
    item.problem = error instanceof HttpError ? { code: error.problem.code, items: error.problem.items || [] } : null;
    await save(item);
    // A refused contact waits in the outbox to be edited; it never reopens the visit's draft.
    if (permanent && item.kind !== "contact") await refuse(item);
    else throw error; // the caller decides: stop the round (no network) or go on (5xx)
  }
}

// Upload everything waiting, for the signed-in user only. Resolves with how many parts are still to send.
export async function syncOutbox() {
  const run = async () => {
    const items = (await db.all("outbox")).filter((item) => item.state !== "done" && item.state !== "failed");
    items.sort((a, b) =>
      a.kind === b.kind ? a.createdAt.localeCompare(b.createdAt) : a.kind === "submission" ? -1 : 1,
    );
    for (const item of items) {
      // A part superseded meanwhile (the manager resubmitted) is gone from the outbox: skip it.
      const current = await db.get("outbox", item.id);
      if (!current || current.state === "done" || current.state === "failed") continue;
      try {
        await sendOne(current);
      } catch (error) {
        // No answer at all, or signed out: stop this round. A server error (5xx) is about this part only:
        // it waits for the next round and the parts behind it go on.
        if (!(error instanceof HttpError)) break;
      }
    }
    return (await pending()).filter((item) => item.state !== "failed").length;
  };
  // Another user's outbox is in another database: the lock is per user.
  const lock = `outbox-sync-${db.boundTo()}`;
  if (typeof navigator !== "undefined" && navigator.locks) return navigator.locks.request(lock, run);
  return run();
}

// The service worker's Background Sync: only the signed-in user's outbox, with that user's tokens.
export async function syncSignedIn() {
  const session = await loadSession();
  if (!session?.refresh) return 0;
  return syncOutbox();
}

export async function retryFailed() {
  for (const item of await db.all("outbox")) {
    // What the server refused for its content waits for the manager to fix the draft; the rest may be retried.
    if (item.state === "failed" && ![413, 415, 422].includes(item.status)) {
      item.state = "waiting";
      await save(item);
    }
  }
}
