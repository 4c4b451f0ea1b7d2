// The field app (managers, phone-first) and the review screens (reviewers, desktop), one app by role.
import * as db from "./db.js";
import { AuthError, HttpError, json, loadSession, request, signIn, signOut } from "./api.js";
import { onChange, pending, retryFailed, syncOutbox, tally } from "./sync.js";
import { date, lang, metres, pick, setLang, t } from "./i18n.js";

const app = document.getElementById("app");
const tabs = document.getElementById("tabs");

// ---- tiny DOM helper: text is always text (EXIF strings and names are data, never markup) ----
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child instanceof Node ? child : String(child));
  return node;
}
function show(...nodes) { app.replaceChildren(...nodes); app.focus({ preventScroll: true }); }
function field(label, control, error) { return h("label", { class: "field" }, h("span", { text: label }), control, error || null); }

function haversine(a, b) {
  const rad = (d) => (d * Math.PI) / 180, R = 6371008.8;
  const dphi = rad(b.lat - a.lat), dl = rad(b.lon - a.lon);
  const x = Math.sin(dphi / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(x)));
}
function siteOf(visit) {
  const site = (visit.collateral || visit.project)?.declared_site;
  return site ? { lat: site.wgs84_lat, lon: site.wgs84_lon, address: site.address } : null;
}
async function sha256Hex(buffer) {
  const digest = await crypto.subtle.digest("SHA-256", buffer);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- session ----
let user = null;

async function requireUser() {
  const session = await loadSession();
  if (!session?.refresh) { user = null; return null; }
  user = session.user;
  return user;
}

function renderLogin(message) {
  tabs.hidden = true;
  const username = h("input", { name: "username", autocomplete: "username", required: true, "aria-label": t("username") });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true, "aria-label": t("password") });
  const error = h("p", { class: "error", role: "alert", text: message || "" });
  const form = h("form", { class: "card", onsubmit: async (event) => {
    event.preventDefault();
    try {
      user = await signIn(username.value.trim(), password.value);
      location.hash = "#/";
      route();
      kickSync();
    } catch (e) {
      error.textContent = e instanceof HttpError && e.status === 401 ? t("badLogin") : navigator.onLine ? e.message : t("offlineLogin");
    }
  } },
    h("h2", { text: t("signInTitle") }),
    field(t("username"), username), field(t("password"), password), error,
    h("button", { type: "submit", text: t("signIn") }));
  show(form);
}

function renderTabs() {
  const here = location.hash || "#/";
  const links = user.role === "manager"
    ? [["#/", t("visits")], ["#/outbox", t("outbox")], ["#/tasks", t("tasks")]]
    : [["#/review", t("review")], ["#/tasks", t("tasks")]];
  tabs.replaceChildren(...links.map(([href, label]) => h("a", { href, text: label, "aria-current": here === href ? "page" : null })),
    h("a", { href: "#/", onclick: async (e) => { e.preventDefault(); await confirmSignOut(); }, text: t("signOut") }));
  tabs.hidden = false;
}

// Signing out with parts the server has not confirmed says how many and offers to sync first: on a shared
// phone the next person must not sign in over someone's unsent work without being told.
async function confirmSignOut() {
  const unsent = (await pending()).length;
  const leave = async () => { await signOut(); renderLogin(); };
  if (!unsent) { await leave(); return; }
  const dialog = h("dialog", { "aria-labelledby": "sign-out-title" },
    h("h2", { id: "sign-out-title", text: t("unsentTitle") }),
    h("p", { text: t("unsentBody", { n: unsent }) }),
    h("div", { class: "row" },
      h("button", { text: t("syncFirst"), onclick: () => { dialog.close(); location.hash = "#/outbox"; kickSync(); } }),
      h("button", { class: "danger", text: t("signOutAnyway"), onclick: async () => { dialog.close(); await leave(); } }),
      h("button", { class: "secondary", text: t("cancel"), onclick: () => dialog.close() })));
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

// ---- manager: visits ----
async function downloadPackage(status) {
  const etag = await db.get("kv", "packageEtag");
  const answer = await request("/api/v1/me/work-package", { headers: etag ? { "If-None-Match": etag } : {} });
  if (answer.status === 304) { status.textContent = t("downloaded", { n: (await db.all("visits")).length }); return; }
  if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
  const pkg = await answer.json();
  await db.replaceAll("visits", await mergePackage(pkg.visits));
  await db.put("kv", answer.headers.get("ETag"), "packageEtag");
  status.textContent = t("downloaded", { n: pkg.visits.length });
}

// A fresh work package never overwrites the phone's copy of a visit the phone still holds work for
// (docs/decisions/0009-work-package-merge.md): a draft, or a part in the outbox the server has not confirmed.
// Otherwise the server's copy wins, and a visit the package no longer lists goes.
async function mergePackage(fresh) {
  const held = new Set([
    ...(await db.all("outbox")).filter((item) => item.state !== "done").map((item) => item.visitId),
    ...(await db.keys("drafts")),
  ]);
  const local = new Map((await db.all("visits")).map((entry) => [entry.visit.id, entry]));
  const merged = fresh.map((entry) => (held.has(entry.visit.id) && local.has(entry.visit.id) ? local.get(entry.visit.id) : entry));
  const listed = new Set(fresh.map((entry) => entry.visit.id));
  for (const [id, entry] of local) if (held.has(id) && !listed.has(id)) merged.push(entry);
  return merged;
}

function rank(entry) {
  const v = entry.visit;
  return [v.overdue ? 0 : v.status === "returned" ? 1 : 2, v.due_on];
}

async function renderVisits(present = show) {
  const status = h("p", { class: "muted", role: "status" });
  const list = h("div");
  const button = h("button", { text: t("downloadOffline"), onclick: async () => {
    button.disabled = true;
    try { await downloadPackage(status); await fill(); } catch (e) { status.textContent = e.message; } finally { button.disabled = false; }
  } });
  const lastFix = await db.get("kv", "lastFix");
  async function fill() {
    const entries = (await db.all("visits")).sort((a, b) => String(rank(a)).localeCompare(String(rank(b))));
    if (!entries.length) { list.replaceChildren(h("p", { class: "muted", text: t("noVisits") })); return; }
    list.replaceChildren(...entries.map((entry) => {
      const v = entry.visit, site = siteOf(v);
      const away = lastFix && site ? t("distance", { d: metres(haversine(lastFix, site)) }) : "";
      return h("a", { class: "visit card", href: `#/visit/${v.id}` },
        h("div", { class: "row" }, h("strong", { class: "grow", text: v.borrower.name }),
          v.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
          h("span", { class: `badge ${v.status}`, text: t(`status.${v.status}`) })),
        h("div", { class: "muted", text: `${(v.collateral?.description || v.project?.name || "")} · ${t("due")} ${date(v.due_on)} ${away}` }),
        entry.review_comment ? h("div", { class: "warn", text: `${t("reviewComment")}: ${entry.review_comment}` }) : null);
    }));
  }
  await fill();
  present(h("div", { class: "row" }, button), status, list);
  if (!(await db.all("visits")).length && navigator.onLine) button.click();
}

// ---- manager: one visit ----
async function loadDraft(visitId) {
  return (await db.get("drafts", visitId)) || { visitId, answers: {}, photos: [], notes: "", checkIn: null, startedAt: new Date().toISOString() };
}

function describeDeclared(visit) {
  const rows = visit.declared.map((d) => h("tr", {}, h("td", { text: d.field }), h("td", { text: d.value_number ?? d.value_text ?? "" }), h("td", { text: d.unit }), h("td", { text: date(d.declared_on) })));
  return h("table", {}, h("tbody", {}, rows));
}

async function renderVisit(id, present = show) {
  const entry = await db.get("visits", id);
  if (!entry) { present(h("p", { text: t("noVisits") }), h("a", { href: "#/", text: t("back") })); return; }
  const visit = entry.visit;
  const definition = visit.template_version.definition;
  const draft = await loadDraft(id);
  const site = siteOf(visit);
  const errors = {};
  if (navigator.onLine && visit.status === "scheduled") json(`/api/v1/visits/${id}/start`, { method: "POST" }).catch(() => {});

  const saveDraft = async () => { await db.put("drafts", draft, id); };
  const checkInStatus = h("p", { role: "status" });
  const describeFix = () => {
    if (!draft.checkIn) return "";
    const d = site ? haversine(draft.checkIn, site) : null;
    let text = t("checkedIn", { a: Math.round(draft.checkIn.accuracy_m), d: metres(d) });
    if (draft.checkIn.accuracy_m > 100) text += " · " + t("poorFix", { a: Math.round(draft.checkIn.accuracy_m) });
    else if (d !== null && d > 300) text += " · " + t("farFromSite", { d: metres(d) });
    return text;
  };
  checkInStatus.textContent = describeFix();
  const checkInButton = h("button", { type: "button", text: t("checkIn"), onclick: () => {
    navigator.geolocation.getCurrentPosition(async (pos) => {
      draft.checkIn = { lat: pos.coords.latitude, lon: pos.coords.longitude, accuracy_m: pos.coords.accuracy, fixed_at: new Date(pos.timestamp).toISOString() };
      await db.put("kv", draft.checkIn, "lastFix");
      await saveDraft();
      for (const paint of fixListeners) paint();
      checkInStatus.textContent = describeFix();
      checkInStatus.className = draft.checkIn.accuracy_m > 100 || (site && haversine(draft.checkIn, site) > 300) ? "warn" : "";
    }, (e) => { checkInStatus.textContent = t("noGeo", { e: e.message }); }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  } });

  const blocks = [];
  const fixListeners = [];
  for (const section of definition.sections) {
    const block = h("section", { class: "card" }, h("h3", { text: pick(section, "title") }));
    for (const item of section.items) {
      const label = pick(item);
      const error = h("div", { class: "error", role: "alert" });
      errors[item.key] = error;
      const answer = (draft.answers[item.key] ||= {});
      let control;
      if (item.type === "location") {
        // The fix itself, read-only, labelled with the item's name; the button takes a new one.
        const where = h("input", { readonly: true, "aria-label": label, name: item.key });
        const paintFix = () => { where.value = draft.checkIn ? `${draft.checkIn.lat.toFixed(6)}, ${draft.checkIn.lon.toFixed(6)} ±${Math.round(draft.checkIn.accuracy_m)} m` : ""; };
        paintFix();
        fixListeners.push(paintFix);
        block.append(h("div", { class: "field" }, h("span", { text: label }), where, h("div", { class: "row" }, checkInButton), checkInStatus, error));
        continue;
      } else if (item.type === "boolean" || item.type === "choice") {
        const options = item.type === "boolean"
          ? [["", "—"], ["true", t("yes")], ["false", t("no")]]
          : [["", "—"], ...item.choices.map((c) => [c.value, pick(c)])];
        control = h("select", { "aria-label": label, name: item.key }, options.map(([value, text]) => h("option", { value, text })));
        control.value = answer.value === undefined || answer.value === null ? "" : String(answer.value);
        control.addEventListener("change", () => {
          answer.value = control.value === "" ? null : item.type === "boolean" ? control.value === "true" : control.value;
          saveDraft();
        });
      } else if (item.type === "number") {
        control = h("input", { type: "number", inputmode: "decimal", step: "any", "aria-label": label, name: item.key, min: item.min ?? null, max: item.max ?? null });
        control.value = answer.value ?? "";
        control.addEventListener("input", () => { answer.value = control.value === "" ? null : Number(control.value); saveDraft(); });
      } else if (item.type === "text") {
        control = h("textarea", { "aria-label": label, name: item.key });
        control.value = answer.value ?? "";
        control.addEventListener("input", () => { answer.value = control.value; saveDraft(); });
      } else if (item.type === "photo") {
        const thumbs = h("div", { class: "thumbs" });
        const count = h("span", { class: "muted" });
        const paint = () => {
          const mine = draft.photos.filter((p) => p.itemKey === item.key);
          count.textContent = t("photosAdded", { n: mine.length });
          thumbs.replaceChildren(...mine.map((p) => h("img", { src: URL.createObjectURL(p.blob), alt: `${label} ${t("photo")}` })));
        };
        control = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, "aria-label": `${label} ${t("photo")}`, name: item.key });
        control.addEventListener("change", async () => {
          const fix = draft.checkIn;
          for (const file of control.files) {
            const buffer = await file.arrayBuffer();
            // The Blob and its hash are kept at once, with where and when the phone says it was taken.
            draft.photos.push({
              id: crypto.randomUUID(), itemKey: item.key, blob: new Blob([buffer], { type: file.type || "image/jpeg" }),
              sha256: await sha256Hex(buffer), size: buffer.byteLength, type: file.type || "image/jpeg",
              fix: fix ? { lat: fix.lat, lon: fix.lon, accuracy_m: fix.accuracy_m } : null, takenAt: new Date().toISOString(),
            });
          }
          control.value = "";
          await saveDraft();
          paint();
        });
        paint();
        block.append(field(`${label} ${t("photo")}`, control, h("div", {}, count, thumbs, error)));
        continue;
      }
      block.append(field(label + (item.unit ? ` (${item.unit})` : ""), control, error));
    }
    blocks.push(block);
  }
  const notes = h("textarea", { "aria-label": t("notes"), name: "notes" });
  notes.value = draft.notes || "";
  notes.addEventListener("input", () => { draft.notes = notes.value; saveDraft(); });
  const status = h("p", { role: "status" });

  function validate() {
    let ok = true;
    for (const section of definition.sections) for (const item of section.items) {
      const a = draft.answers[item.key] || {};
      let message = "";
      if (item.type === "photo") {
        const n = draft.photos.filter((p) => p.itemKey === item.key).length;
        const need = item.required ? Math.max(item.min_photos, 1) : 0;
        if (n < need) message = t("needPhotos", { n: need });
      } else if (item.type === "location") {
        if (item.required && !draft.checkIn) message = t("required");
      } else if (a.value === undefined || a.value === null || a.value === "") {
        if (item.required) message = t("required");
      } else if (item.type === "number") {
        if (item.min !== null && item.min !== undefined && a.value < item.min) message = t("tooLow", { n: item.min });
        if (item.max !== null && item.max !== undefined && a.value > item.max) message = t("tooHigh", { n: item.max });
      }
      errors[item.key].textContent = message;
      if (message) ok = false;
    }
    return ok;
  }

  async function submit() {
    if (!validate()) { status.textContent = t("required"); return; }
    const answers = {};
    for (const section of definition.sections) for (const item of section.items) {
      const a = draft.answers[item.key] || {};
      if (item.type === "photo") answers[item.key] = { photos: draft.photos.filter((p) => p.itemKey === item.key).map((p) => p.id) };
      else if (item.type === "location") answers[item.key] = {};
      else if (a.value !== undefined && a.value !== null && a.value !== "") answers[item.key] = { value: a.value };
    }
    const submissionId = crypto.randomUUID();
    const now = new Date().toISOString();
    const body = {
      check_in: draft.checkIn, answers, notes: draft.notes || "", device_started_at: draft.startedAt, device_finished_at: now,
      photos: draft.photos.map((p) => ({ id: p.id, sha256: p.sha256, size: p.size })),
      device: { app: "fieldvisit-pwa", agent: navigator.userAgent.slice(0, 200) },
    };
    await db.put("outbox", { id: submissionId, kind: "submission", visitId: id, borrower: visit.borrower.name, body, state: "waiting", createdAt: now });
    for (const p of draft.photos) {
      await db.put("outbox", { id: p.id, kind: "photo", visitId: id, itemKey: p.itemKey, borrower: visit.borrower.name, blob: p.blob, sha256: p.sha256, size: p.size, type: p.type, fix: p.fix, takenAt: p.takenAt, state: "waiting", progress: 0, createdAt: now });
    }
    await db.del("drafts", id);
    entry.visit.status = "submitted";
    await db.put("visits", entry);
    status.textContent = t("submitted");
    registerBackgroundSync();
    kickSync();
    location.hash = "#/outbox";
  }

  const head = h("section", { class: "card" },
    h("h2", { text: visit.borrower.name }),
    h("div", { class: "muted", text: `${visit.borrower.address} · ${t("due")} ${date(visit.due_on)}` }),
    entry.review_comment ? h("p", { class: "warn", text: `${t("reviewComment")}: ${entry.review_comment}` }) : null,
    site ? h("p", { text: `${t("site")}: ${site.address}` }) : null,
    h("details", {}, h("summary", { text: t("declared") }), describeDeclared(visit)),
    h("p", { class: "muted", text: `${t("previous")}: ${entry.previous_visit ? `${date(entry.previous_visit.approved_at)} ${entry.previous_visit.manager_name} ${entry.previous_visit.notes}` : t("none")}` }));
  present(head, ...blocks,
    h("section", { class: "card" }, field(t("notes"), notes),
      h("div", { class: "row" },
        h("button", { type: "button", class: "secondary", text: t("saveDraft"), onclick: async () => { await saveDraft(); status.textContent = t("draftSaved"); } }),
        h("button", { type: "button", text: t("submit"), onclick: submit })),
      status));
}

// ---- manager: outbox ----
async function renderOutbox(present = show) {
  const list = h("div");
  const status = h("p", { role: "status" });
  const storage = h("p", { class: "muted" });
  async function paint() {
    const items = (await db.all("outbox")).sort((a, b) => (b.createdAt || "").localeCompare(a.createdAt || ""));
    const counts = tally(items); // one read of the outbox per repaint (it repaints on every chunk uploaded)
    const waiting = items.length - counts.done;
    const estimate = navigator.storage?.estimate ? await navigator.storage.estimate() : {};
    const persisted = navigator.storage?.persisted ? await navigator.storage.persisted() : false;
    storage.textContent = `${t("storage", { u: `${((estimate.usage || 0) / 1e6).toFixed(1)} MB`, n: waiting })} · ${persisted ? t("persisted") : t("notPersisted")}`;
    if (!button.disabled) status.textContent = syncStatus(counts);
    list.replaceChildren(...items.map((item) => {
      const findings = item.result?.discrepancies || [];
      return h("div", { class: "card", "data-outbox": item.kind },
        h("div", { class: "row" },
          h("strong", { class: "grow", text: `${item.kind === "photo" ? t("photo") : t("submit")} · ${item.borrower || ""}` }),
          h("span", { class: `badge ${item.state}`, "data-state": item.state, text: t(`state.${item.state}`) })),
        item.kind === "photo" && item.state !== "done" ? h("progress", { max: "1", value: String(item.progress || 0), "aria-label": t("state.uploading") }) : null,
        item.error || item.errorKind === "network" ? h("div", { class: "error", text: item.error || t("networkError") }) : null,
        item.result ? h("div", {},
          h("div", { class: "muted", text: item.result.state === "incomplete" ? t("incomplete") : "" }),
          h("div", { text: findings.length ? `${t("findings")}:` : t("noFindings") }),
          h("ul", {}, findings.map((f) => h("li", {}, h("span", { class: `badge ${f.severity}`, text: t(`severity.${f.severity}`) }), " ", lang() === "en" ? f.explanation_en : f.explanation_zh)))) : null);
    }));
  }
  const button = h("button", { text: t("syncNow"), onclick: async () => {
    button.disabled = true; status.textContent = t("syncing");
    try {
      await retryFailed();
      const left = await syncOutbox();
      if (!left) await refreshPackageQuietly();
    } catch { /* the parts say what happened to each */ }
    finally { button.disabled = false; paint(); }
  } });
  const exportButton = h("button", { class: "secondary", text: t("exportOutbox"), onclick: exportOutbox });
  const stop = onChange(() => paint());
  window.addEventListener("hashchange", stop, { once: true });
  await paint();
  present(h("div", { class: "row" }, button, exportButton), status, storage, list);
}

function syncStatus(counts) {
  if (counts.failed) return t("partsRefused", { n: counts.failed });
  if (counts.waiting + counts.uploading) return t("partsWaiting", { n: counts.waiting + counts.uploading });
  return counts.done ? t("syncDone") : t("nothingToSync");
}

async function exportOutbox() {
  // The escape hatch: everything not yet confirmed, photos included, as one file the bank's staff can load.
  const items = await pending();
  const out = [];
  for (const item of items) {
    const copy = { ...item };
    if (item.blob) copy.blob = await new Promise((resolve) => { const r = new FileReader(); r.onload = () => resolve(r.result); r.readAsDataURL(item.blob); });
    out.push(copy);
  }
  const link = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(out)], { type: "application/json" })), download: `fieldvisit-outbox-${Date.now()}.json` });
  link.click();
}

async function refreshPackageQuietly() {
  try { await downloadPackage(h("span")); } catch { /* offline or signed out: later */ }
}

// ---- reviewer: queue and visit ----
async function renderQueue(present = show) {
  const page = await json("/api/v1/review/queue");
  if (!page.items.length) { present(h("p", { class: "muted", text: t("queueEmpty") })); return; }
  present(...page.items.map((item) => h("a", { class: "visit card", href: `#/review/${item.visit.id}` },
    h("div", { class: "row" }, h("strong", { class: "grow", text: item.visit.borrower_name }),
      ...Object.entries(item.discrepancies).filter(([, n]) => n).map(([s, n]) => h("span", { class: `badge ${s}`, text: `${t(`severity.${s}`)} ${n}` })),
      item.conflict ? h("span", { class: "badge critical", text: t("conflict") }) : null,
      item.submission_state === "incomplete" ? h("span", { class: "badge major", text: t("incomplete") }) : null),
    h("div", { class: "muted", text: `${t(`status.${item.visit.status}`)} · ${date(item.submitted_at)}` }))));
}

async function photoUrl(path) {
  const answer = await request(path);
  return answer.ok ? URL.createObjectURL(await answer.blob()) : "";
}

function map(site, fix, photos) {
  const points = [site && { ...site, kind: "site" }, fix && { ...fix, kind: "fix" }, ...photos.map((p) => p.exif?.gps ? { lat: p.exif.gps.lat, lon: p.exif.gps.lon, kind: "photo" } : null)].filter(Boolean);
  if (!points.length) return h("p", { class: "muted", text: t("unknown") });
  const lats = points.map((p) => p.lat), lons = points.map((p) => p.lon);
  const pad = 0.0005, minLat = Math.min(...lats) - pad, maxLat = Math.max(...lats) + pad, minLon = Math.min(...lons) - pad, maxLon = Math.max(...lons) + pad;
  const W = 400, H = 260;
  const x = (lon) => ((lon - minLon) / (maxLon - minLon)) * (W - 40) + 20, y = (lat) => H - (((lat - minLat) / (maxLat - minLat)) * (H - 40) + 20);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`); svg.setAttribute("class", "map"); svg.setAttribute("role", "img");
  const colours = { site: "#0b5cab", fix: "#c62828", photo: "#b26a00" };
  let label = "";
  if (site && fix) {
    const line = document.createElementNS(svg.namespaceURI, "line");
    for (const [k, v] of Object.entries({ x1: x(site.lon), y1: y(site.lat), x2: x(fix.lon), y2: y(fix.lat), stroke: "#5f6b7a", "stroke-dasharray": "4" })) line.setAttribute(k, v);
    svg.append(line);
    label = `${t("checkInPoint")} ↔ ${t("declaredPoint")}: ${metres(haversine(site, fix))}`;
  }
  for (const p of points) {
    const dot = document.createElementNS(svg.namespaceURI, "circle");
    for (const [k, v] of Object.entries({ cx: x(p.lon), cy: y(p.lat), r: p.kind === "photo" ? 5 : 8, fill: colours[p.kind] })) dot.setAttribute(k, v);
    svg.append(dot);
  }
  svg.setAttribute("aria-label", label || t("map"));
  const key = (kind, text) => h("span", {}, h("span", { style: `color:${colours[kind]}`, text: "● " }), text, " ");
  return h("figure", {}, svg, h("figcaption", { class: "muted" }, key("site", t("declaredPoint")), key("fix", t("checkInPoint")), key("photo", t("photos")), label ? `· ${label}` : ""));
}

async function renderReviewVisit(id, present = show) {
  const record = await json(`/api/v1/visits/${id}`);
  const submission = record.submissions.at(-1);
  const site = siteOf(record);
  const definition = record.template_version.definition;
  const rows = [];
  for (const section of definition.sections) for (const item of section.items) {
    const answer = submission?.body.answers[item.key];
    const bound = item.binds_to && record.declared.find((d) => d.field === item.binds_to);
    let shown = answer?.value;
    if (typeof shown === "boolean") shown = shown ? t("yes") : t("no");
    if (item.type === "choice") shown = pick(item.choices.find((c) => c.value === answer?.value) || { label_zh: shown ?? "", label_en: shown ?? "" });
    if (item.type === "photo") shown = `${answer?.photos?.length || 0}`;
    rows.push(h("tr", {}, h("td", { text: pick(item) }), h("td", { text: bound ? `${bound.value_number ?? bound.value_text} ${bound.unit}` : "" }), h("td", { text: shown ?? "" })));
  }
  const photos = h("div", { class: "thumbs" });
  for (const p of record.photos) {
    const src = p.state === "processed" ? await photoUrl(p.links.thumbnail) : "";
    const taken = p.exif.taken_at ? date(p.exif.taken_at) : p.exif.taken_at_local || t("unknown");
    const place = p.exif.gps ? `${p.exif.gps.lat.toFixed(5)}, ${p.exif.gps.lon.toFixed(5)}` : t("unknown");
    photos.append(h("figure", {},
      h("a", { href: "#", onclick: async (e) => { e.preventDefault(); window.open(await photoUrl(p.links.preview), "_blank"); } },
        src ? h("img", { src, alt: `${p.item_key}` }) : h("span", { text: p.state })),
      h("figcaption", { class: "muted", text: `${t("takenAt")} ${taken} · ${t("place")} ${place}` })));
  }
  const findings = h("ul", {}, record.discrepancies.map((d) => h("li", {}, h("span", { class: `badge ${d.severity}`, text: t(`severity.${d.severity}`) }), " ", lang() === "en" ? d.explanation_en : d.explanation_zh)));
  const comment = h("textarea", { "aria-label": t("comment"), name: "comment" });
  const status = h("p", { role: "status" });
  const decide = async (decision) => {
    try {
      await json(`/api/v1/visits/${id}/review`, { method: "POST", body: { decision, comment: comment.value } });
      status.textContent = t(`status.${decision === "approve" ? "approved" : "returned"}`);
      setTimeout(() => { location.hash = "#/review"; }, 400);
    } catch (e) { status.textContent = e.message; }
  };
  const conflicts = [...new Set(record.submissions.flatMap((s) => s.conflict_reasons))];
  present(
    h("section", { class: "card" }, h("h2", { text: record.borrower.name }),
      h("div", { class: "muted", text: `${t(`status.${record.status}`)} · ${t("due")} ${date(record.due_on)}` }),
      conflicts.length ? h("p", { class: "error", text: `${t("conflict")}: ${conflicts.join(", ")}` }) : null,
      submission?.state === "incomplete" ? h("p", { class: "warn", text: t("incomplete") }) : null),
    h("div", { class: "sides" },
      h("section", { class: "card" }, h("h3", { text: t("declaredVsObserved") }),
        h("table", {}, h("thead", {}, h("tr", {}, h("th", { text: t("item") }), h("th", { text: t("declared") }), h("th", { text: t("observed") }))), h("tbody", {}, rows)),
        h("p", { text: `${t("notes")}: ${submission?.body.notes || ""}` })),
      h("section", { class: "card" }, h("h3", { text: t("map") }), map(site, submission?.body.check_in, record.photos))),
    h("section", { class: "card" }, h("h3", { text: t("photos") }), photos),
    h("section", { class: "card" }, h("h3", { text: t("findings") }), record.discrepancies.length ? findings : h("p", { text: t("noFindings") })),
    h("section", { class: "card" }, field(t("comment"), comment),
      h("div", { class: "row" },
        h("button", { text: t("approve"), onclick: () => decide("approve"), disabled: record.status !== "submitted" }),
        h("button", { class: "danger", text: t("returnVisit"), "aria-label": t("returnVisit"), onclick: () => decide("return"), disabled: record.status !== "submitted" })),
      status));
}

// ---- tasks ----
async function renderTasks(present = show) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const state = h("select", { "aria-label": t("allStates") }, h("option", { value: "", text: t("allStates") }), ...["open", "in_progress", "resolved", "waived"].map((s) => h("option", { value: s, text: t(`taskState.${s}`) })));
  const severity = h("select", { "aria-label": t("allSeverities") }, h("option", { value: "", text: t("allSeverities") }), ...["critical", "major", "minor"].map((s) => h("option", { value: s, text: t(`severity.${s}`) })));
  const overdue = h("input", { type: "checkbox", "aria-label": t("overdueOnly") });
  state.value = params.get("state") || ""; severity.value = params.get("severity") || ""; overdue.checked = params.get("overdue") === "true";
  const apply = () => { const q = new URLSearchParams(); if (state.value) q.set("state", state.value); if (severity.value) q.set("severity", severity.value); if (overdue.checked) q.set("overdue", "true"); location.hash = `#/tasks?${q}`; };
  for (const c of [state, severity, overdue]) c.addEventListener("change", apply);
  const page = await json(`/api/v1/tasks?${params}`);
  const staff = user.role !== "manager";
  const cards = page.items.map((task) => {
    const note = h("textarea", { "aria-label": t("comment") });
    const status = h("span", { role: "status" });
    const act = (action) => async () => {
      try {
        await json(`/api/v1/tasks/${task.id}/actions`, { method: "POST", body: { action, comment: note.value || null } });
        route();
      } catch (e) { status.textContent = e.message; }
    };
    const open = task.state === "open" || task.state === "in_progress";
    return h("div", { class: "card" },
      h("div", { class: "row" }, h("span", { class: `badge ${task.severity}`, text: t(`severity.${task.severity}`) }),
        h("strong", { class: "grow", text: lang() === "en" ? task.title_en : task.title_zh }),
        h("span", { class: `badge ${task.state}`, text: t(`taskState.${task.state}`) }),
        task.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null),
      h("div", { class: "muted", text: `${t("due")} ${date(task.due_on)} · ×${task.occurrences}${task.waiver_reason ? " · " + task.waiver_reason : ""}` }),
      open ? h("div", {}, field(t("comment"), note), h("div", { class: "row" },
        h("button", { class: "secondary", text: t("addComment"), onclick: async () => { await json(`/api/v1/tasks/${task.id}/comments`, { method: "POST", body: { body: note.value } }); route(); } }),
        task.state === "open" ? h("button", { class: "secondary", text: t("start"), onclick: act("start") }) : null,
        staff ? h("button", { text: t("resolve"), onclick: act("resolve") }) : null,
        staff ? h("button", { class: "danger", text: t("waive"), onclick: act("waive") }) : null), status) : null);
  });
  present(h("div", { class: "row card" }, state, severity, h("label", { class: "row" }, overdue, t("overdueOnly"))), ...cards);
}

// ---- routing, sync triggers, updates ----
// Each route() paints only if no later route() started meanwhile: a slow page (the review queue, say) must
// not replace the page the user has already moved on to.
let generation = 0;

async function route() {
  const token = ++generation;
  const present = (...nodes) => { if (token === generation) show(...nodes); };
  try {
    if (!(await requireUser())) { renderLogin((await loadSession()) ? t("sessionExpired") : ""); return; }
    renderTabs();
    const hash = location.hash || "#/";
    const [, page, id] = hash.split("?")[0].split("/");
    if (user.role !== "manager" && (page === "" || page === undefined)) { location.hash = "#/review"; return; }
    if (page === "visit") await renderVisit(id, present);
    else if (page === "outbox") await renderOutbox(present);
    else if (page === "review" && id) await renderReviewVisit(id, present);
    else if (page === "review") await renderQueue(present);
    else if (page === "tasks") await renderTasks(present);
    else await renderVisits(present);
  } catch (e) {
    if (e instanceof AuthError) renderLogin(t("sessionExpired"));
    else show(h("p", { class: "error", role: "alert", text: e.message }), h("a", { href: "#/", text: t("back") }));
  }
}

let syncing = false;
async function kickSync() {
  // Only managers capture, so only they have an outbox and a work package (a reviewer asking for one got a 403).
  if (syncing || !navigator.onLine || user?.role !== "manager") return;
  syncing = true;
  try { const left = await syncOutbox(); if (!left) await refreshPackageQuietly(); } catch { /* retried on the next trigger */ } finally { syncing = false; }
}

async function registerBackgroundSync() {
  try { const reg = await navigator.serviceWorker?.ready; await reg?.sync?.register("outbox"); } catch { /* Safari, Firefox: the other triggers cover it */ }
}

function showNetwork() { document.getElementById("net").textContent = navigator.onLine ? t("online") : t("offline"); }

async function start() {
  const select = document.getElementById("lang");
  select.value = lang();
  select.addEventListener("change", () => { setLang(select.value); route(); showNetwork(); });
  showNetwork();
  window.addEventListener("online", () => { showNetwork(); kickSync(); });
  window.addEventListener("offline", showNetwork);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") kickSync(); });
  window.addEventListener("hashchange", route);
  if ("serviceWorker" in navigator) {
    const registration = await navigator.serviceWorker.register("/sw.js", { type: "module", scope: "/" });
    registration.addEventListener("updatefound", () => {
      const incoming = registration.installing;
      incoming?.addEventListener("statechange", () => {
        if (incoming.state === "installed" && navigator.serviceWorker.controller) {
          const banner = document.getElementById("update");
          banner.replaceChildren(t("newVersion"), " ", h("button", { class: "secondary", text: t("reload"), onclick: () => incoming.postMessage("skipWaiting") }));
          banner.hidden = false;
        }
      });
    });
    let reloading = false;
    navigator.serviceWorker.addEventListener("controllerchange", () => { if (navigator.serviceWorker.controller && document.getElementById("update").hidden === false && !reloading) { reloading = true; location.reload(); } });
  }
  if (navigator.storage?.persist) navigator.storage.persist().catch(() => false);
  await route();
  kickSync();
}

start();
