// The manager's day: the visits of the work package, the ones needing attention first.
import { HttpError } from "../core/api.js";
import { drafts } from "../core/capture.js";
import { busyButton, h } from "../core/dom.js";
import { haversine, siteOf } from "../core/geo.js";
import { date, metres, t } from "../core/i18n.js";
import { downloadPackage, lastFix, visitEntries } from "../core/package.js";

function rank(entry, draft) {
  const v = entry.visit;
  return [draft?.refused ? 0 : v.overdue ? 1 : v.status === "returned" ? 2 : 3, v.due_on];
}

// What the phone knows better than the package: a draft being sent, or refused and waiting for a fix.
function localBadge(draft) {
  if (draft?.refused) return h("span", { class: "badge failed", text: t("needsFix") });
  if (draft?.sentAs) return h("span", { class: "badge waiting", text: t("sending") });
  return null;
}

export async function renderVisits(present) {
  const status = h("p", { class: "muted", role: "status" });
  const list = h("div");
  const button = busyButton({}, t("downloadOffline"), t("downloading"), async () => {
    try {
      status.textContent = t("downloaded", { n: await downloadPackage() });
      await fill();
    } catch (e) {
      status.textContent = e instanceof HttpError ? e.message : t("networkError");
    }
  });
  const fix = await lastFix();
  async function fill() {
    const held = await drafts();
    const order = (entry) => String(rank(entry, held.get(entry.visit.id)));
    const entries = (await visitEntries()).sort((a, b) => order(a).localeCompare(order(b)));
    if (!entries.length) {
      list.replaceChildren(h("p", { class: "muted", text: t("noVisits") }));
      return;
    }
    list.replaceChildren(
      ...entries.map((entry) => {
        const v = entry.visit,
          site = siteOf(v);
        const away = fix && site ? t("distance", { d: metres(haversine(fix, site)) }) : "";
        return h(
          "a",
          { class: "visit card", href: `#/visit/${v.id}` },
          h(
            "div",
            { class: "row" },
            h("strong", { class: "grow", text: v.borrower.name }),
            v.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
            localBadge(held.get(v.id)) || h("span", { class: `badge ${v.status}`, text: t(`status.${v.status}`) }),
          ),
          h("div", {
            class: "muted",
            text: `${v.collateral?.description || v.project?.name || ""} · ${t("due")} ${date(v.due_on)} ${away}`,
          }),
          entry.review_comment
            ? h("div", { class: "warn", text: `${t("reviewComment")}: ${entry.review_comment}` })
            : null,
        );
      }),
    );
  }
  await fill();
  present(h("h1", { class: "sr", text: t("visits") }), h("div", { class: "row" }, button), status, list);
  if (!(await visitEntries()).length && navigator.onLine) button.click();
}
