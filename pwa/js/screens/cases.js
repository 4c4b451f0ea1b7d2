// Cases (案件): extension and restructuring proposals and escalations. The list, a case with its timeline,
// comments, attachments and the moves the caller may make now (the server's `can`), and the form that opens
// one from a borrower, a visit, a task or a signal. Cases are worked online: they are decisions taken in the
// office, not captures in the field.
import { HttpError, download, json, request } from "../core/api.js";
import { sha256Hex } from "../core/geo.js";
import { busyButton, namedField as field, h } from "../core/dom.js";
import { date, lang, t } from "../core/i18n.js";
import { state } from "../core/state.js";

const KINDS = ["extension", "restructuring", "escalation"];
const DEPARTMENTS = ["risk", "legal", "compliance"];
const ACCEPT = "application/pdf,image/jpeg,image/png,image/webp,image/heic,image/heif";
const money = (value) => (value === null || value === undefined ? "" : Number(value).toLocaleString("zh-CN"));

function stateBadge(c) {
  return h("span", { class: `badge case-${c.state}`, text: t(`caseState.${c.state}`) });
}

function caseLine(c) {
  return h(
    "li",
    { class: "card", "data-case": c.id },
    h(
      "div",
      { class: "row" },
      h("span", { class: "badge", text: t(`caseKind.${c.kind}`) }),
      h("a", { class: "grow", href: `#/case/${c.id}`, text: c.title }),
      stateBadge(c),
      c.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
    ),
    h("div", {
      class: "muted",
      text: `${c.borrower_name} · ${t("case.routedTo")} ${t(`department.${c.routed_to}`)} · ${t("case.owner")} ${c.owner_name} · ${t("case.due")} ${date(c.due_on)}`,
    }),
  );
}

export async function renderCases(present) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  if (!params.has("open")) params.set("open", "true");
  const which = h(
    "select",
    { "aria-label": t("case.which") },
    ...[
      ["true", t("case.openOnes")],
      ["false", t("case.closedOnes")],
    ].map(([value, text]) => h("option", { value, text })),
  );
  which.value = params.get("open");
  which.addEventListener("change", () => {
    params.set("open", which.value);
    location.hash = `#/cases?${params}`;
  });
  const cases = await json(`/api/v1/cases?${params}`);
  present(
    h("h1", { text: t("cases") }),
    h("div", { class: "row card" }, which),
    cases.length
      ? h("ul", { class: "plain-list" }, cases.map(caseLine))
      : h("p", { class: "muted", text: t("case.none") }),
  );
}

function terms(c) {
  const rows = [
    ["new_maturity_on", (v) => date(v)],
    ["amount", (v) => `${money(v)} CNY`],
    ["interest_rate_pct", (v) => `${v} %`],
    ["grace_months", (v) => String(v)],
    ["repayment_plan", (v) => v],
  ].filter(([key]) => c.terms[key] !== undefined && c.terms[key] !== null);
  if (!rows.length) return null;
  return h(
    "dl",
    { class: "terms" },
    rows.flatMap(([key, show]) => [h("dt", { text: t(`terms.${key}`) }), h("dd", { text: show(c.terms[key]) })]),
  );
}

export async function renderCase(id, present) {
  const c = await json(`/api/v1/cases/${id}`);
  const status = h("p", { role: "status", class: "error" });
  const note = h("textarea", { "aria-label": t("case.note"), name: "note" });
  const recommendation = h(
    "select",
    { "aria-label": t("case.recommendation"), name: "recommendation" },
    ...["approve", "reject"].map((value) => h("option", { value, text: t(`case.recommend.${value}`) })),
  );
  const rerender = () => renderCase(id, present);
  const act = (action) =>
    busyButton(
      { type: "button", class: ["reject", "withdraw"].includes(action) ? "danger" : "", "data-action": action },
      t(`case.action.${action}`),
      "…",
      async () => {
        status.textContent = "";
        try {
          const body = { action, note: note.value.trim() || null };
          if (action === "recommend") body.recommendation = recommendation.value;
          await json(`/api/v1/cases/${id}/actions`, { method: "POST", body });
          await rerender();
        } catch (e) {
          status.textContent = e instanceof HttpError ? e.message : t("networkError");
        }
      },
    );
  const moves = c.can.filter((a) => !["edit", "attach", "comment"].includes(a));
  const comment = h("textarea", { "aria-label": t("comment"), name: "comment" });
  const file = h("input", { type: "file", accept: ACCEPT, "aria-label": t("case.attachFile") });
  const attach = busyButton({ type: "button", class: "secondary" }, t("case.attach"), t("case.uploading"), async () => {
    status.textContent = "";
    const chosen = file.files?.[0];
    if (!chosen) return;
    const query = new URLSearchParams({
      filename: chosen.name.slice(0, 200),
      sha256: await sha256Hex(await chosen.arrayBuffer()),
    });
    const answer = await request(`/api/v1/cases/${id}/attachments/${crypto.randomUUID()}?${query}`, {
      method: "PUT",
      headers: { "Content-Type": chosen.type || "application/octet-stream" },
      body: chosen,
    });
    if (!answer.ok) {
      const problem = await answer.json().catch(() => ({}));
      status.textContent = problem.detail || problem.title || `HTTP ${answer.status}`;
      return;
    }
    await rerender();
  });
  present(
    h("p", {}, h("a", { href: "#/cases", text: `← ${t("cases")}` })),
    h("h1", { text: c.title }),
    h(
      "div",
      { class: "row" },
      h("span", { class: "badge", text: t(`caseKind.${c.kind}`) }),
      stateBadge(c),
      c.overdue ? h("span", { class: "badge overdue", text: t("overdue") }) : null,
    ),
    h(
      "p",
      {},
      h("a", { href: `#/borrower/${c.borrower_id}`, text: c.borrower_name }),
      c.facility_reference ? ` · ${c.facility_reference}` : "",
      ` · ${t("case.routedTo")} ${t(`department.${c.routed_to}`)} · ${t("case.owner")} ${c.owner_name} · ${t("case.due")} ${date(c.due_on)}`,
    ),
    h("section", { class: "card" }, h("h2", { text: t("case.reason") }), h("p", { text: c.reason }), terms(c)),
    c.supporting_visit_ids.length
      ? h(
          "section",
          { class: "card" },
          h("h2", { text: t("case.supportingVisits") }),
          h(
            "ul",
            { class: "plain-list" },
            c.supporting_visit_ids.map((visitId) =>
              h(
                "li",
                {},
                h("a", {
                  href: state.user.role === "manager" ? `#/visit/${visitId}` : `#/review/${visitId}`,
                  text: visitId.slice(0, 8),
                }),
              ),
            ),
          ),
        )
      : null,
    c.recommendation
      ? h(
          "section",
          { class: "card" },
          h("h2", { text: t("case.recommendation") }),
          h("p", {
            text: `${c.reviewer_name}: ${t(`case.recommend.${c.recommendation}`)} — ${c.recommendation_note || ""}`,
          }),
        )
      : null,
    c.decided_by_id
      ? h(
          "section",
          { class: "card" },
          h("h2", { text: t("case.decision") }),
          h("p", { text: `${c.decided_by_name}: ${t(`caseState.${c.state}`)} — ${c.decision_note || ""}` }),
        )
      : null,
    moves.length
      ? h(
          "section",
          { class: "card", "aria-label": t("case.actions") },
          h("h2", { text: t("case.actions") }),
          moves.includes("recommend") ? field(t("case.recommendation"), recommendation) : null,
          field(t("case.note"), note),
          h("div", { class: "row" }, moves.map(act)),
        )
      : null,
    status,
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("case.attachments") }),
      c.attachments.length
        ? h(
            "ul",
            { class: "plain-list" },
            c.attachments.map((a) =>
              h(
                "li",
                { "data-attachment": a.id },
                busyButton({ type: "button", class: "link" }, a.filename, "…", () => download(a.url, a.filename)),
                h("span", {
                  class: "muted",
                  text: ` · ${(a.size / 1024).toFixed(0)} KB${a.pages ? ` · ${t("case.pages", { n: a.pages })}` : ""}`,
                }),
              ),
            ),
          )
        : h("p", { class: "muted", text: t("none") }),
      c.can.includes("attach") ? h("div", { class: "row" }, file, attach) : null,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("case.timeline") }),
      h(
        "ol",
        { class: "plain-list timeline" },
        c.steps.map((s) =>
          h(
            "li",
            {},
            h("strong", { text: t(`case.action.${s.action}`) }),
            ` · ${s.actor_name} · ${date(s.at)}`,
            s.note ? h("div", { class: "muted", text: stepNote(s) }) : null,
          ),
        ),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("comments") }),
      h(
        "ul",
        { class: "plain-list" },
        c.comments.map((m) =>
          h("li", {}, h("strong", { text: m.author_name }), ` · ${date(m.created_at)}`, h("div", { text: m.body })),
        ),
      ),
      field(t("comment"), comment),
      busyButton({ type: "button", class: "secondary" }, t("addComment"), "…", async () => {
        if (!comment.value.trim()) return;
        await json(`/api/v1/cases/${id}/comments`, { method: "POST", body: { body: comment.value } });
        await rerender();
      }),
    ),
  );
}

// A review opinion's step note is kept as "approve: …" or "reject: …": said in the user's words.
function stepNote(step) {
  const [, verdict, rest] = /^(approve|reject): ([\s\S]*)$/.exec(step.note) || [];
  return step.action === "recommend" && verdict ? `${t(`case.recommend.${verdict}`)}: ${rest}` : step.note;
}

// Opening a case: #/case-new?borrower=<id>&origin=visit:<id> (or task:, signal:).
export async function renderCaseForm(present) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const borrowerId = params.get("borrower");
  const [originType, originId] = (params.get("origin") || "borrower:").split(":");
  const page = await json(`/api/v1/borrowers/${borrowerId}/overview`);
  const status = h("p", { role: "alert", class: "error" });
  const kind = h(
    "select",
    { name: "kind" },
    KINDS.map((k) => h("option", { value: k, text: t(`caseKind.${k}`) })),
  );
  kind.value = params.get("kind") || "restructuring";
  const routed = h(
    "select",
    { name: "routed_to" },
    DEPARTMENTS.map((d) => h("option", { value: d, text: t(`department.${d}`) })),
  );
  const facility = h(
    "select",
    { name: "facility_id" },
    h("option", { value: "", text: "—" }),
    page.facilities.map(({ facility: f }) =>
      h("option", { value: f.id, text: `${f.reference} · ${money(f.amount)} ${f.currency}` }),
    ),
  );
  if (page.facilities.length === 1) facility.value = page.facilities[0].facility.id;
  const title = h("input", { name: "title", maxlength: "200", required: true });
  const reason = h("textarea", { name: "reason", required: true });
  const maturity = h("input", { name: "new_maturity_on", type: "date" });
  const amount = h("input", { name: "amount", type: "number", min: "0", step: "0.01" });
  const rate = h("input", { name: "interest_rate_pct", type: "number", min: "0", max: "100", step: "0.01" });
  const grace = h("input", { name: "grace_months", type: "number", min: "0", max: "120", step: "1" });
  const plan = h("textarea", { name: "repayment_plan" });
  const due = h("input", { name: "due_on", type: "date" });
  const visitBoxes = page.visits
    .filter((v) => ["submitted", "approved", "returned"].includes(v.status))
    .map((v) => {
      const box = h("input", { type: "checkbox", value: v.id, checked: originType === "visit" && v.id === originId });
      return h("label", { class: "row" }, box, `${date(v.due_on)} · ${t(`status.${v.status}`)}`);
    });
  const figureBoxes = page.figures.map((f) =>
    h("label", { class: "row" }, h("input", { type: "checkbox", value: f.id }), f.period),
  );
  const creditOnly = h(
    "div",
    {},
    field(t("terms.new_maturity_on"), maturity),
    field(t("terms.amount"), amount),
    field(t("terms.interest_rate_pct"), rate),
    field(t("terms.grace_months"), grace),
    field(t("terms.repayment_plan"), plan),
  );
  const routedField = field(t("case.routedTo"), routed);
  const shape = () => {
    const escalation = kind.value === "escalation";
    routedField.hidden = !escalation;
    creditOnly.hidden = escalation;
  };
  kind.addEventListener("change", shape);
  shape();
  const checked = (boxes) =>
    boxes
      .map((label) => label.querySelector("input"))
      .filter((b) => b.checked)
      .map((b) => b.value);
  const save = busyButton({ type: "submit" }, t("case.saveDraft"), "…", async (event) => {
    event.preventDefault();
    status.textContent = "";
    const escalation = kind.value === "escalation";
    const body = {
      kind: kind.value,
      routed_to: escalation ? routed.value : "risk",
      borrower_id: borrowerId,
      facility_id: facility.value || null,
      title: title.value,
      reason: reason.value,
      terms: escalation
        ? {}
        : Object.fromEntries(
            [
              ["new_maturity_on", maturity.value || null],
              ["amount", amount.value || null],
              ["interest_rate_pct", rate.value || null],
              ["grace_months", grace.value ? Number(grace.value) : null],
              ["repayment_plan", plan.value.trim() || null],
            ].filter(([, v]) => v !== null),
          ),
      origin_type: originType || "borrower",
      origin_id: originId || null,
      supporting_visit_ids: checked(visitBoxes),
      supporting_figure_ids: checked(figureBoxes),
      due_on: due.value || null,
    };
    const id = crypto.randomUUID();
    try {
      await json(`/api/v1/cases/${id}`, { method: "PUT", body });
      location.hash = `#/case/${id}`;
    } catch (e) {
      status.textContent = e instanceof HttpError ? problemText(e) : t("networkError");
    }
  });
  present(
    h("p", {}, h("a", { href: `#/borrower/${borrowerId}`, text: `← ${page.borrower.name}` })),
    h("h1", { text: t("case.new") }),
    originType !== "borrower"
      ? h("p", { class: "muted", text: `${t("case.from")} ${t(`case.origin.${originType}`)}` })
      : null,
    h(
      "form",
      { class: "card", "aria-label": t("case.new"), onsubmit: (e) => e.preventDefault() },
      field(t("case.kind"), kind),
      routedField,
      field(t("facilityRef"), facility),
      field(t("case.title"), title),
      field(t("case.reason"), reason),
      creditOnly,
      visitBoxes.length ? h("fieldset", {}, h("legend", { text: t("case.supportingVisits") }), visitBoxes) : null,
      figureBoxes.length ? h("fieldset", {}, h("legend", { text: t("case.supportingFigures") }), figureBoxes) : null,
      field(t("case.dueOn"), due),
      status,
      save,
    ),
  );
}

// A refusal in the user's words: the server's detail, and each field it names.
function problemText(error) {
  const items = error.problem?.errors || error.problem?.items || [];
  const named = items.map((i) => (lang() === "en" ? i.message : i.message_zh || i.message)).filter(Boolean);
  return [error.message, ...named].join(" ");
}
