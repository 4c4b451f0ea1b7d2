// A visit's draft from the first tap to the server's last confirmation. The draft holds the answers and the
// photos (their bytes too); submitting queues the parts in the outbox and locks the draft; it is deleted only
// when the server has confirmed the submission and every photo of it. A part the server refuses unlocks it,
// with the refused items named, for the manager to fix and submit again.
// (DESIGN "Sync"; docs/decisions/0010-field-app-owners-drafts-libraries.md)
import * as db from "./store.js";
import { checkSubmission, items, shownFor, unanswered } from "../rules/validate.js";
import { baseKey, declaredMembers, expand, slot } from "../rules/repeats.js";

// The repeats a new draft starts with: one per declared unit (in the declared order), and the least number a
// section the manager adds to needs.
function firstRepeats(entry) {
  const repeats = {};
  const subject = entry.visit.collateral || entry.visit.project || {};
  for (const section of entry.visit.template_version.definition.sections) {
    if (!section.repeat) continue;
    repeats[section.key] = section.repeat.over
      ? declaredMembers(subject.identifiers, section.repeat.over)
      : Array(section.repeat.min).fill("");
  }
  return repeats;
}

// The checklist as this draft's repeats make it (rules/repeats.js): what the form shows and the phone checks.
export const checklistOf = (entry, draft) => expand(entry.visit.template_version.definition, draft.repeats);

export function addRepeat(draft, sectionKey, label = "") {
  draft.repeats[sectionKey] = [...(draft.repeats[sectionKey] || []), label];
}

// Removes the n-th repeat of a section with what it held; the later ones move up (their keys are renumbered).
export function removeRepeat(draft, section, n) {
  draft.repeats[section.key].splice(n - 1, 1);
  const inside = new Set(section.items.map((item) => item.key));
  const moved = (key) => {
    const [base, k] = baseKey(key);
    if (!k || !inside.has(base)) return key;
    return k === n ? null : k > n ? slot(base, k - 1) : key;
  };
  const answers = {};
  for (const [key, answer] of Object.entries(draft.answers)) if (moved(key)) answers[moved(key)] = answer;
  draft.answers = answers;
  draft.photos = draft.photos.filter((p) => moved(p.itemKey)).map((p) => ({ ...p, itemKey: moved(p.itemKey) }));
  draft.marked = (draft.marked || []).map(moved).filter(Boolean);
}

// A fresh draft; a returned visit starts from the submission the reviewer returned: its answers, its
// photos (already on the server, so never sent again) and the items to change marked.
export function newDraft(entry, now) {
  const draft = {
    visitId: entry.visit.id,
    answers: {},
    photos: [],
    notes: "",
    checkIn: null,
    startedAt: now,
    sentAs: null,
    refused: null,
    marked: [],
    repeats: firstRepeats(entry),
  };
  const returned = entry.returned;
  if (!returned) return draft;
  if (returned.body.repeats) draft.repeats = { ...draft.repeats, ...returned.body.repeats };
  const held = new Map(returned.photos.map((photo) => [photo.id, photo]));
  for (const [key, answer] of Object.entries(returned.body.answers)) {
    if (answer.value !== undefined && answer.value !== null) draft.answers[key] = { value: answer.value };
    for (const id of answer.photos || []) {
      const photo = held.get(id);
      if (photo)
        draft.photos.push({
          id,
          itemKey: key,
          remote: true,
          thumbnail: photo.thumbnail,
          sha256: photo.sha256,
          size: photo.size,
        });
    }
  }
  draft.notes = returned.body.notes || "";
  draft.checkIn = returned.body.check_in || null;
  draft.marked = returned.marked_items;
  draft.returnedFrom = returned.submission_id;
  return draft;
}

export async function loadDraft(entry, now) {
  const draft = (await db.get("drafts", entry.visit.id)) || newDraft(entry, now);
  draft.repeats ||= firstRepeats(entry); // a draft from before repeat groups
  return draft;
}

export const saveDraft = (draft) => db.put("drafts", draft, draft.visitId);

// A photo's bytes for the uploader: they live in the draft until the server has confirmed them.
export async function photoBlob(item) {
  const draft = await db.get("drafts", item.visitId);
  return draft?.photos.find((photo) => photo.id === item.id)?.blob || null;
}

// The submission's body, as the server takes it.
export function bodyOf(definition, draft, finishedAt) {
  const answers = {};
  // A hidden item is not sent, nor its photos (they stay in the draft, should it be shown again).
  const shown = shownFor(definition, draft.answers);
  const sentPhotos = draft.photos.filter((p) => shown.has(p.itemKey));
  for (const item of items(definition)) {
    if (!shown.has(item.key)) continue;
    const answer = draft.answers[item.key] || {};
    if (item.type === "photo" || item.type === "signature") {
      const photos = sentPhotos.filter((p) => p.itemKey === item.key).map((p) => p.id);
      if (photos.length) answers[item.key] = { photos };
    } else if (item.type !== "location" && !unanswered(answer.value)) {
      answers[item.key] = { value: answer.value };
    }
    if (answer.note?.trim()) answers[item.key] = { ...(answers[item.key] || {}), note: answer.note.trim() };
  }
  const repeats = Object.keys(draft.repeats || {}).length ? { repeats: draft.repeats } : {};
  return {
    ...(draft.replaces ? { replaces: draft.replaces } : {}),
    ...repeats,
    check_in: draft.checkIn,
    answers,
    notes: draft.notes || "",
    device_started_at: draft.startedAt,
    device_finished_at: finishedAt,
    photos: sentPhotos.map((p) => ({ id: p.id, sha256: p.sha256, size: p.size })),
    device: { app: "fieldvisit-pwa", agent: (globalThis.navigator?.userAgent || "").slice(0, 200) },
  };
}

export function problemsOf(definition, draft) {
  return checkSubmission(definition, bodyOf(definition, draft, new Date().toISOString()));
}

// Queue the draft's parts. A part of an earlier attempt that the server refused, or a photo since removed
// from the draft, leaves the outbox; a photo already queued keeps its place (and its upload).
export async function submitDraft(entry, draft, now) {
  const visitId = entry.visit.id;
  const definition = checklistOf(entry, draft);
  const body = bodyOf(definition, draft, now);
  // The photos this submission lists: not those of an item its answers hide.
  const keep = new Set(body.photos.map((photo) => photo.id));
  const queued = new Map((await db.byVisit(visitId)).map((item) => [item.id, item]));
  for (const item of queued.values()) {
    const superseded = item.kind === "submission" ? item.state !== "done" : item.state !== "done" && !keep.has(item.id);
    if (superseded || (item.kind === "photo" && item.state === "failed")) {
      await db.del("outbox", item.id);
      queued.delete(item.id);
    }
  }
  const submissionId = crypto.randomUUID();
  const labels = Object.fromEntries(
    items(definition).map((item) => [item.key, { zh: item.label_zh, en: item.label_en }]),
  );
  await db.put("outbox", {
    id: submissionId,
    kind: "submission",
    visitId,
    borrower: entry.visit.borrower.name,
    body,
    labels,
    state: "waiting",
    createdAt: now,
  });
  for (const photo of draft.photos) {
    if (photo.remote || queued.has(photo.id) || !keep.has(photo.id)) continue;
    await db.put("outbox", {
      id: photo.id,
      kind: "photo",
      visitId,
      submissionId,
      itemKey: photo.itemKey,
      itemLabel: labels[photo.itemKey],
      borrower: entry.visit.borrower.name,
      sha256: photo.sha256,
      size: photo.size,
      type: photo.type,
      fix: photo.fix,
      takenAt: photo.takenAt,
      state: "waiting",
      progress: 0,
      createdAt: now,
    });
  }
  draft.sentAs = submissionId;
  draft.sentPhotos = [...keep];
  draft.refused = null;
  for (const photo of draft.photos) delete photo.refused;
  await saveDraft(draft);
  entry.visit.status = "submitted";
  await db.put("visits", entry);
  return submissionId;
}

// Once the submission and every photo it lists are confirmed, the draft (and the photos' bytes) may go.
export async function settle(visitId) {
  const draft = await db.get("drafts", visitId);
  if (!draft?.sentAs) return;
  const parts = new Map((await db.byVisit(visitId)).map((item) => [item.id, item]));
  const local = new Set(draft.photos.filter((photo) => !photo.remote).map((photo) => photo.id));
  const sent = (draft.sentPhotos || [...local]).filter((id) => local.has(id));
  const mine = [draft.sentAs, ...sent];
  if (mine.every((id) => parts.get(id)?.state === "done")) await db.del("drafts", visitId);
}

// The server refused a part for good: the draft opens again, the refused items (or photo) named.
export async function refuse(item) {
  const draft = await db.get("drafts", item.visitId);
  if (!draft) return; // an outbox from before drafts were kept: the outbox names the reason
  const problems =
    item.kind === "photo"
      ? [{ item: item.itemKey, photoId: item.id, en: item.error || "", zh: item.error || "" }]
      : (item.problem?.items || []).map((p) => ({ item: p.item, en: p.message, zh: p.message_zh }));
  if (!problems.length) problems.push({ item: null, en: item.error || "", zh: item.error || "" });
  // The server kept the submission that waits for this photo: the next one names it as the one it replaces,
  // so the server takes it in its place rather than flag a second capture.
  if (item.kind === "photo" && draft.sentAs) draft.replaces = draft.sentAs;
  draft.sentAs = null;
  draft.refused = [...(draft.refused || []), ...problems];
  if (item.kind === "photo") {
    const photo = draft.photos.find((p) => p.id === item.id);
    if (photo) photo.refused = item.error || true;
  }
  await saveDraft(draft);
  const entry = await db.get("visits", item.visitId);
  if (entry) {
    entry.visit.status = "in_progress";
    await db.put("visits", entry);
  }
}

// Every draft on the phone, by visit: the visit list shows which wait to sync and which need a fix.
export async function drafts() {
  const found = new Map();
  for (const id of await db.keys("drafts")) found.set(id, await db.get("drafts", id));
  return found;
}
