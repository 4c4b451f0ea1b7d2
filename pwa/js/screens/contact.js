// Recording a contact with the borrower's people (沟通记录): who, when, how, what was said, what they promised.
// A manager records it on the phone, offline too: it goes into the outbox as its own part, with its own id, and
// is sent like the rest (the server keeps it once however often it is sent). Office staff send it at once.
// The checks are the server's (ContactIn), so that the outbox never holds what the server will refuse.
import { HttpError, json } from "../core/api.js";
import { busyButton, namedField as field, h } from "../core/dom.js";
import { t } from "../core/i18n.js";
import { visitEntry } from "../core/package.js";
import { actions, state } from "../core/state.js";
import * as db from "../core/store.js";
import { saveContact } from "../core/sync.js";

const CHANNELS = ["meeting", "call", "message", "video"];

// "2026-11-30T10:30" as the phone's clock reads now, for a datetime-local input.
function localNow() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

// The same checks as the server's; the messages in the user's language.
export function contactProblems(body) {
  const problems = [];
  if (!body.people.length) problems.push(t("contact.needPerson"));
  if (!body.summary.trim()) problems.push(t("contact.needSummary"));
  if (new Date(body.occurred_at).getTime() > Date.now() + 86400000) problems.push(t("contact.future"));
  const day = body.occurred_at.slice(0, 10);
  const dayBefore = new Date(new Date(`${day}T00:00:00Z`).getTime() - 86400000).toISOString().slice(0, 10);
  for (const c of body.commitments) {
    if (!c.due_on) problems.push(t("contact.needDue", { c: c.text }));
    else if (c.due_on < dayBefore) problems.push(t("contact.dueBefore", { c: c.text }));
  }
  return problems;
}

function rows(make, first) {
  const list = h("div", { class: "rows" });
  const add = (values) => list.append(make(values));
  add(first);
  return { list, add };
}

export async function renderContactForm(present) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const editing = params.get("edit") ? await db.get("outbox", params.get("edit")) : null;
  const borrowerId = editing?.body.borrower_id || params.get("borrower");
  const visitId = editing?.visitId || params.get("visit") || null;
  const entry = visitId && state.user.role === "manager" ? await visitEntry(visitId) : null;
  const borrowerName = editing?.borrower || entry?.visit.borrower.name || "";
  const before = editing?.body;
  const channel = h(
    "select",
    { name: "channel" },
    CHANNELS.map((c) => h("option", { value: c, text: t(`channel.${c}`) })),
  );
  channel.value = before?.channel || (visitId ? "meeting" : "call");
  const when = h("input", { type: "datetime-local", name: "occurred_at", required: true });
  when.value = before ? before.occurred_at.slice(0, 16) : localNow();
  const people = rows(
    (p = {}) =>
      h(
        "div",
        { class: "row person" },
        h("input", {
          name: "person_name",
          "aria-label": t("contact.personName"),
          placeholder: t("contact.personName"),
          value: p.name || "",
        }),
        h("input", {
          name: "person_title",
          "aria-label": t("contact.personTitle"),
          placeholder: t("contact.personTitle"),
          value: p.title || "",
        }),
      ),
    {},
  );
  (before?.people || []).slice(1).forEach((p) => people.add(p));
  if (before?.people?.[0]) {
    const [name, title] = people.list.firstChild.querySelectorAll("input");
    name.value = before.people[0].name;
    title.value = before.people[0].title || "";
  }
  const summary = h("textarea", { name: "summary", required: true });
  summary.value = before?.summary || "";
  const commitments = rows(
    (c = {}) =>
      h(
        "div",
        { class: "row commitment" },
        h("input", {
          name: "commitment_text",
          class: "grow",
          "aria-label": t("contact.commitment"),
          placeholder: t("contact.commitment"),
          value: c.text || "",
        }),
        h("input", { name: "commitment_due", type: "date", "aria-label": t("contact.due"), value: c.due_on || "" }),
      ),
    {},
  );
  (before?.commitments || []).forEach((c, i) => {
    if (i === 0) {
      const [text, due] = commitments.list.firstChild.querySelectorAll("input");
      text.value = c.text;
      due.value = c.due_on;
    } else commitments.add(c);
  });
  const status = h("p", { role: "alert", class: "error" });
  const back = visitId && state.user.role === "manager" ? `#/visit/${visitId}` : `#/borrower/${borrowerId}`;
  const collect = () => {
    // The phone's wall clock, with its offset: the server keeps the instant.
    const local = new Date(when.value);
    const offset = -local.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const hhmm = `${String(Math.floor(Math.abs(offset) / 60)).padStart(2, "0")}:${String(Math.abs(offset) % 60).padStart(2, "0")}`;
    return {
      borrower_id: borrowerId,
      visit_id: visitId,
      occurred_at: `${when.value}:00${sign}${hhmm}`,
      channel: channel.value,
      people: [...people.list.children]
        .map((row) => row.querySelectorAll("input"))
        .map(([name, title]) => ({ name: name.value.trim(), title: title.value.trim() }))
        .filter((p) => p.name),
      summary: summary.value.trim(),
      commitments: [...commitments.list.children]
        .map((row) => row.querySelectorAll("input"))
        .map(([text, due]) => ({ text: text.value.trim(), due_on: due.value }))
        .filter((c) => c.text),
    };
  };
  const save = busyButton({ type: "submit" }, t("contact.save"), "…", async (event) => {
    event.preventDefault();
    const body = collect();
    if (!when.value) {
      status.textContent = t("contact.needWhen");
      return;
    }
    const problems = contactProblems(body);
    status.textContent = problems.join("；");
    if (problems.length) return;
    if (state.user.role === "manager") {
      await saveContact({ id: editing?.id || crypto.randomUUID(), visitId, borrower: borrowerName, body });
      actions.kickSync?.();
      location.hash = back;
      return;
    }
    try {
      await json(`/api/v1/contacts/${crypto.randomUUID()}`, { method: "PUT", body });
      location.hash = back;
    } catch (e) {
      status.textContent = e instanceof HttpError ? e.message : t("networkError");
    }
  });
  present(
    h("p", {}, h("a", { href: back, text: `← ${borrowerName || t("back")}` })),
    h("h1", { text: t("contact.record") }),
    h(
      "form",
      { class: "card", "aria-label": t("contact.record"), onsubmit: (e) => e.preventDefault() },
      field(t("contact.channel"), channel),
      field(t("contact.when"), when),
      h(
        "fieldset",
        {},
        h("legend", { text: t("contact.people") }),
        people.list,
        h("button", {
          type: "button",
          class: "secondary",
          text: t("contact.addPerson"),
          onclick: () => people.add({}),
        }),
      ),
      field(t("contact.summary"), summary),
      h(
        "fieldset",
        {},
        h("legend", { text: t("contact.commitments") }),
        commitments.list,
        h("button", {
          type: "button",
          class: "secondary",
          text: t("contact.addCommitment"),
          onclick: () => commitments.add({}),
        }),
      ),
      status,
      save,
    ),
  );
}
