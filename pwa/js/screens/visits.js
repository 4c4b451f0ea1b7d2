// The manager's day: the visits of the work package, the ones needing attention first.
import * as db from "../db.js";
import { HttpError, request } from "../api.js";
import { busyButton, h } from "../core/dom.js";
import { haversine, siteOf } from "../core/geo.js";
import { date, metres, t } from "../i18n.js";

export async function downloadPackage(status) {
  const etag = await db.get("kv", "packageEtag");
  const answer = await request("/api/v1/me/work-package", { headers: etag ? { "If-None-Match": etag } : {} });
  if (answer.status === 304) { status.textContent = t("downloaded", { n: (await db.all("visits")).length }); return; }
  if (!answer.ok) throw new HttpError(answer.status, await answer.json().catch(() => ({})));
  const pkg = await answer.json();
  await db.replaceAll("visits", await mergePackage(pkg.visits));
  await db.put("kv", answer.headers.get("ETag"), "packageEtag");
  status.textContent = t("downloaded", { n: pkg.visits.length });
}

export async function refreshPackageQuietly() {
  try { await downloadPackage(h("span")); } catch { /* offline or signed out: later */ }
}

// A fresh work package never overwrites the phone's copy of a visit the phone still holds work for
// (docs/decisions/0009-work-package-merge.md): a draft, or a part in the outbox the server has not confirmed.
// Otherwise the server's copy wins, and a visit the package no longer lists goes.
export async function mergePackage(fresh) {
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

function rank(entry, draft) {
  const v = entry.visit;
  return [draft?.refused ? 0 : v.overdue ? 1 : v.status === "returned" ? 2 : 3, v.due_on];
}

// What the phone knows better than the package: a draft being sent, or refused and waiting for a fix.
export function localBadge(draft) {
  if (draft?.refused) return h("span", { class: "badge failed", text: t("needsFix") });
  if (draft?.sentAs) return h("span", { class: "badge waiting", text: t("sending") });
  return null;
}

export async function renderVisits(present) {
  const status = h("p", { class: "muted", role: "status" });
  const list = h("div");
  const button = busyButton({}, t("downloadOffline"), t("downloading"), async () => {
    try { await downloadPackage(status); await fill(); } catch (e) { status.textContent = e instanceof HttpError ? e.message : t("networkError"); }
  });
  const lastFix = await db.get("kv", "lastFix");
  async function fill() {
    const drafts = new Map();
    for (const id of await db.keys("drafts")) drafts.set(id, await db.get("drafts", id));
    const entries = (await db.all("visits")).sort((a, b) => String(rank(a, drafts.get(a.visit.id))).localeCompare(String(rank(b, drafts.get(b.visit.id)))));
    if (!entries.length) { list.replaceChildren(h("p", { class: "muted", text: t("noVisits") })); return; }
    list.replaceChildren(...entries.map((entry) => {
      const v = entry.visit, site = siteOf(v), draft = drafts.get(v.id);
      const away = lastFix && site ? t("distance", { d: metres(haversine(lastFix, site)) }) : "";
      return h("a", { class: "visit card", href: `#/visit/${v.id}` },
        h("div", { class: "row" }, h("strong", { class: "grow", text: v.borrower.name }),
          v.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
          localBadge(draft) || h("span", { class: `badge ${v.status}`, text: t(`status.${v.status}`) })),
        h("div", { class: "muted", text: `${(v.collateral?.description || v.project?.name || "")} · ${t("due")} ${date(v.due_on)} ${away}` }),
        entry.review_comment ? h("div", { class: "warn", text: `${t("reviewComment")}: ${entry.review_comment}` }) : null);
    }));
  }
  await fill();
  present(h("h1", { class: "sr", text: t("visits") }), h("div", { class: "row" }, button), status, list);
  if (!(await db.all("visits")).length && navigator.onLine) button.click();
}
