// Follow-up tasks: each card names the borrower and links to the visit that found it.
import { json } from "../core/api.js";
import { field, h } from "../core/dom.js";
import { visitIds } from "../core/package.js";
import { actions, state } from "../core/state.js";
import { date, lang, t } from "../core/i18n.js";

export async function renderTasks(present) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const stateFilter = h(
    "select",
    { "aria-label": t("allStates") },
    h("option", { value: "", text: t("allStates") }),
    ...["open", "in_progress", "resolved", "waived"].map((s) => h("option", { value: s, text: t(`taskState.${s}`) })),
  );
  const severity = h(
    "select",
    { "aria-label": t("allSeverities") },
    h("option", { value: "", text: t("allSeverities") }),
    ...["critical", "major", "minor"].map((s) => h("option", { value: s, text: t(`severity.${s}`) })),
  );
  const overdue = h("input", { type: "checkbox", "aria-label": t("overdueOnly") });
  stateFilter.value = params.get("state") || "";
  severity.value = params.get("severity") || "";
  overdue.checked = params.get("overdue") === "true";
  const apply = () => {
    const q = new URLSearchParams();
    if (stateFilter.value) q.set("state", stateFilter.value);
    if (severity.value) q.set("severity", severity.value);
    if (overdue.checked) q.set("overdue", "true");
    location.hash = `#/tasks?${q}`;
  };
  for (const c of [stateFilter, severity, overdue]) c.addEventListener("change", apply);
  const page = await json(`/api/v1/tasks?${params}`);
  const staff = state.user.role !== "manager";
  const decides = ["reviewer", "admin"].includes(state.user.role); // officers read tasks; reviewers close them
  // A manager opens the visit on the phone when it is in the work package; staff open the review screen.
  const local = staff ? new Set() : new Set(await visitIds());
  const visitLink = (task) => {
    const visitId = task.last_seen_visit_id;
    // A commitment recorded off site has no visit: its borrower's page holds the contact.
    if (!visitId) return staff ? `#/borrower/${task.borrower_id}` : null;
    if (staff) return `#/review/${visitId}`;
    return local.has(visitId) ? `#/visit/${visitId}` : null;
  };
  const cards = page.items.map((task) => {
    const note = h("textarea", { "aria-label": t("comment") });
    const status = h("span", { role: "status" });
    const act = (action) => async () => {
      try {
        await json(`/api/v1/tasks/${task.id}/actions`, {
          method: "POST",
          body: { action, comment: note.value || null },
        });
        actions.route();
      } catch (e) {
        status.textContent = e.message;
      }
    };
    const open = task.state === "open" || task.state === "in_progress";
    const link = visitLink(task);
    return h(
      "div",
      { class: "card", "data-task": task.id },
      h(
        "div",
        { class: "row" },
        h("span", { class: `badge ${task.severity}`, text: t(`severity.${task.severity}`) }),
        h("strong", { class: "grow", text: lang() === "en" ? task.title_en : task.title_zh }),
        h("span", { class: `badge ${task.state}`, text: t(`taskState.${task.state}`) }),
        task.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
      ),
      h("div", {}, link ? h("a", { href: link, text: task.borrower_name }) : h("span", { text: task.borrower_name })),
      h("div", {
        class: "muted",
        text: `${t("taskDue")} ${date(task.due_on)} · ${t("occurrences", { n: task.occurrences })}${task.waiver_reason ? ` · ${t("reason")}: ${task.waiver_reason}` : ""}`,
      }),
      open
        ? h(
            "div",
            {},
            field(t("comment"), note),
            h(
              "div",
              { class: "row" },
              h("button", {
                class: "secondary",
                text: t("addComment"),
                onclick: async () => {
                  await json(`/api/v1/tasks/${task.id}/comments`, { method: "POST", body: { body: note.value } });
                  actions.route();
                },
              }),
              task.state === "open"
                ? h("button", { class: "secondary", text: t("start"), onclick: act("start") })
                : null,
              decides ? h("button", { text: t("resolve"), onclick: act("resolve") }) : null,
              decides ? h("button", { class: "danger", text: t("waive"), onclick: act("waive") }) : null,
              h("a", {
                class: "button secondary",
                href: `#/case-new?borrower=${task.borrower_id}&origin=task:${task.id}`,
                text: t("case.openFrom"),
              }),
            ),
            status,
          )
        : null,
    );
  });
  present(
    h("h1", { text: t("tasks") }),
    h("div", { class: "row card" }, stateFilter, severity, h("label", { class: "row" }, overdue, t("overdueOnly"))),
    ...cards,
  );
}
