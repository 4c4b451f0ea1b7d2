// The outbox, per visit: what is waiting, uploading (with percent), refused (why, and what to do) and done.
// The line on top is counted from every part, so nothing unconfirmed ever reads as synced.
import { photoBlob } from "../core/capture.js";
import { busyButton, h } from "../core/dom.js";
import { lang, t } from "../core/i18n.js";
import { onChange, outboxItems, pending, retryFailed, syncOutbox, tally } from "../core/sync.js";
import { refreshPackageQuietly } from "../core/package.js";
import { tileStats } from "../core/tiles.js";

export function syncStatus(counts) {
  if (counts.failed) return t("partsRefused", { n: counts.failed });
  if (counts.waiting + counts.uploading) return t("partsWaiting", { n: counts.waiting + counts.uploading });
  return counts.done ? t("syncDone") : t("nothingToSync");
}

const percent = (fraction) => `${Math.floor((fraction || 0) * 100)}%`;
const label = (names) => (names ? (lang() === "en" ? names.en : names.zh) : "");

// What the manager can do about a part that did not go through.
function advice(item) {
  if (item.state === "waiting" && item.errorKind === "network") return t("networkError");
  if (item.state === "waiting" && item.errorKind === "server") return t("serverError");
  if (item.state !== "failed") return "";
  if (item.kind === "photo" && [413, 415, 422].includes(item.status)) return t("doReplacePhoto");
  if (item.kind === "submission" && item.status === 422) return t("doFixItems");
  if (item.kind === "contact" && [404, 409, 422].includes(item.status)) return t("contact.doFix");
  return t("doContact");
}

function reasons(item) {
  if (item.kind !== "submission" || !item.problem?.items?.length) return null;
  return h(
    "ul",
    { class: "error" },
    item.problem.items.map((p) =>
      h("li", { text: `${label(item.labels?.[p.item]) || p.item}: ${lang() === "en" ? p.message : p.message_zh}` }),
    ),
  );
}

function visitState(parts) {
  const counts = tally(parts);
  if (counts.failed) return ["failed", t("visitRefused")];
  if (counts.uploading) return ["uploading", t("state.uploading")];
  if (counts.waiting) return ["waiting", t("state.waiting")];
  return ["done", t("visitSynced")];
}

function partLine(item, thumbs) {
  const what =
    item.kind === "photo"
      ? `${t("photoPart")} · ${label(item.itemLabel) || item.itemKey}`
      : item.kind === "contact"
        ? `${t("contact.part")} · ${t(`channel.${item.body.channel}`)} · ${item.body.people.map((p) => p.name).join("、")}`
        : t("submission");
  const findings = item.result?.discrepancies || [];
  const help = advice(item);
  return h(
    "li",
    { class: "part", "data-outbox": item.kind },
    h(
      "div",
      { class: "row" },
      item.kind === "photo" && thumbs.get(item.id)
        ? h("img", { class: "mini", src: thumbs.get(item.id), alt: what })
        : null,
      h("span", {
        class: "grow",
        text: item.kind === "photo" && item.size ? `${what} · ${Math.max(1, Math.round(item.size / 1e3))} KB` : what,
      }),
      h("span", {
        class: `badge ${item.state}`,
        "data-state": item.state,
        text:
          item.state === "uploading" ? `${t("state.uploading")} ${percent(item.progress)}` : t(`state.${item.state}`),
      }),
    ),
    item.kind === "photo" && item.state !== "done"
      ? h("progress", {
          max: "1",
          value: String(item.progress || 0),
          "aria-label": `${what} ${percent(item.progress)}`,
        })
      : null,
    item.state === "failed" && item.error ? h("div", { class: "error", text: item.error }) : null,
    reasons(item),
    help ? h("div", { class: item.state === "failed" ? "advice" : "error", text: help }) : null,
    item.result
      ? h(
          "div",
          {},
          item.result.state === "incomplete" ? h("div", { class: "muted", text: t("incomplete") }) : null,
          h("div", { text: findings.length ? `${t("findings")}:` : t("noFindings") }),
          h(
            "ul",
            {},
            findings.map((f) =>
              h(
                "li",
                {},
                h("span", { class: `badge ${f.severity}`, text: t(`severity.${f.severity}`) }),
                " ",
                lang() === "en" ? f.explanation_en : f.explanation_zh,
              ),
            ),
          ),
        )
      : null,
  );
}

export async function renderOutbox(present) {
  const list = h("div");
  const status = h("p", { role: "status", class: "sync-status" });
  const storage = h("p", { class: "muted" });
  const thumbs = new Map(); // photo id → object URL, made once per screen
  let syncing = false;
  async function paint() {
    const items = await outboxItems();
    const counts = tally(items); // one read of the outbox per repaint (it repaints on every chunk uploaded)
    const estimate = navigator.storage?.estimate ? await navigator.storage.estimate() : {};
    const persisted = navigator.storage?.persisted ? await navigator.storage.persisted() : false;
    const tiles = await tileStats();
    const kept = tiles.tiles
      ? ` · ${t("tilesKept", { n: tiles.tiles, u: `${(tiles.bytes / 1e6).toFixed(1)} MB` })}`
      : "";
    storage.textContent = `${t("storage", { u: `${((estimate.usage || 0) / 1e6).toFixed(1)} MB`, n: items.length - counts.done })}${kept} · ${persisted ? t("persisted") : t("notPersisted")}`;
    if (!syncing) status.textContent = syncStatus(counts);
    const visits = new Map();
    // A contact recorded off a visit is a group of its own.
    const groupOf = (item) => item.visitId || item.id;
    for (const item of items)
      (visits.get(groupOf(item)) || visits.set(groupOf(item), []).get(groupOf(item))).push(item);
    for (const item of items) {
      if (item.kind === "photo" && item.state !== "done" && !thumbs.has(item.id)) {
        const blob = item.blob || (await photoBlob(item));
        thumbs.set(item.id, blob ? URL.createObjectURL(blob) : "");
      }
    }
    const groups = [...visits.entries()].map(([visitId, parts]) => {
      parts.sort((a, b) =>
        a.kind === b.kind ? (a.createdAt || "").localeCompare(b.createdAt || "") : a.kind === "submission" ? -1 : 1,
      );
      const [state, text] = visitState(parts);
      const photos = parts.filter((p) => p.kind === "photo");
      const bytes = photos.reduce((sum, p) => sum + (p.size || 0), 0);
      const sent = photos.reduce(
        (sum, p) => sum + (p.state === "done" ? p.size || 0 : (p.progress || 0) * (p.size || 0)),
        0,
      );
      const latest = parts.reduce((max, p) => ((p.createdAt || "") > max ? p.createdAt : max), "");
      return {
        state,
        latest,
        node: h(
          "section",
          { class: `card visit-parts ${state}`, "data-visit": visitId },
          h(
            "div",
            { class: "row" },
            h("h2", { class: "grow", text: parts[0].borrower || "" }),
            h("span", {
              class: `badge ${state}`,
              text:
                state === "uploading" || (state === "waiting" && sent)
                  ? `${text} ${percent(bytes ? sent / bytes : 0)}`
                  : text,
            }),
          ),
          h(
            "ul",
            { class: "parts" },
            parts.map((item) => partLine(item, thumbs)),
          ),
          ...parts
            .filter((p) => p.kind === "contact" && p.state === "failed")
            .map((p) => h("a", { class: "button", href: `#/contact-new?edit=${p.id}`, text: t("contact.edit") })),
          state === "failed" && parts.some((p) => p.kind !== "contact" && p.state === "failed")
            ? h("a", { class: "button", href: `#/visit/${visitId}`, text: t("openToFix") })
            : null,
        ),
      };
    });
    // What needs the manager first, then what is still moving, then what is done; newest first within.
    const order = { failed: 0, uploading: 1, waiting: 2, done: 3 };
    groups.sort((a, b) => order[a.state] - order[b.state] || b.latest.localeCompare(a.latest));
    list.replaceChildren(...groups.map((group) => group.node));
  }
  const button = busyButton({}, t("syncNow"), t("syncing"), async () => {
    syncing = true;
    status.textContent = t("syncing");
    try {
      await retryFailed();
      const left = await syncOutbox();
      if (!left) await refreshPackageQuietly();
    } catch {
      /* the parts say what happened to each */
    } finally {
      syncing = false;
      await paint();
    }
  });
  const exportButton = h("button", { class: "secondary", text: t("exportOutbox"), onclick: exportOutbox });
  const stop = onChange(() => paint());
  window.addEventListener(
    "hashchange",
    () => {
      stop();
      for (const url of thumbs.values()) if (url) URL.revokeObjectURL(url);
    },
    { once: true },
  );
  await paint();
  present(h("h1", { text: t("outbox") }), h("div", { class: "row" }, button, exportButton), status, storage, list);
}

// The escape hatch: everything of the signed-in manager not yet confirmed, photos included, as one file
// the bank's staff can load. Another user's outbox is in another database and never part of it.
async function exportOutbox() {
  const out = [];
  for (const item of await pending()) {
    const copy = { ...item };
    const blob = item.kind === "photo" ? item.blob || (await photoBlob(item)) : null;
    if (blob)
      copy.blob = await new Promise((resolve) => {
        const r = new FileReader();
        r.onload = () => resolve(r.result);
        r.readAsDataURL(blob);
      });
    out.push(copy);
  }
  const link = h("a", {
    href: URL.createObjectURL(new Blob([JSON.stringify(out)], { type: "application/json" })),
    download: `fieldvisit-outbox-${Date.now()}.json`,
  });
  link.click();
}
