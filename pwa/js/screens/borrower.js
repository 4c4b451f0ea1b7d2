// The borrower page: everything about one borrower on one screen — facilities with their risk grade, repayment
// status and any proposed grade (a reviewer decides it here), collateral and projects as declared, the figures
// with their trend, early-warning signals, visits with their inspection reports, open tasks, and the visits as an
// Excel export. Managers see their own borrowers, reviewers their branch's.
import { download, json } from "../core/api.js";
import { busyButton, h, svg } from "../core/dom.js";
import { date, lang, t } from "../core/i18n.js";
import { state } from "../core/state.js";

const money = (value) => (value === null || value === undefined ? "—" : Number(value).toLocaleString("zh-CN"));
const tenThousand = (value) => (value === null || value === undefined ? "—" : `${(Number(value) / 10000).toFixed(0)}`);

function trend(values, label) {
  const points = values.map(Number).filter((v) => Number.isFinite(v));
  if (points.length < 2) return h("span", { class: "muted", text: "—" });
  const W = 160,
    H = 36,
    low = Math.min(...points),
    high = Math.max(...points);
  const x = (i) => 4 + (i / (points.length - 1)) * (W - 8);
  const y = (v) => H - 4 - ((v - low) / (high - low || 1)) * (H - 8);
  const drawing = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend", role: "img", "aria-label": label });
  drawing.append(
    svg("polyline", {
      points: points.map((v, i) => `${x(i)},${y(v)}`).join(" "),
      fill: "none",
      stroke: "#0b5cab",
      "stroke-width": "2",
    }),
    svg("circle", { cx: x(points.length - 1), cy: y(points.at(-1)), r: "3", fill: "#c62828" }),
  );
  return drawing;
}

function figuresTable(figures) {
  const rows = [
    ["revenue", t("fig.revenue")],
    ["net_profit", t("fig.net_profit")],
    ["operating_cash_flow", t("fig.operating_cash_flow")],
    ["accounts_receivable", t("fig.accounts_receivable")],
    ["total_liabilities", t("fig.total_liabilities")],
    ["total_assets", t("fig.total_assets")],
  ];
  const shown = figures.slice(-6);
  return h(
    "table",
    { class: "figures-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { text: t("fig.unit") }),
        ...shown.map((f) => h("th", { text: f.period })),
        h("th", { text: t("trend") }),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map(([key, label]) =>
        h(
          "tr",
          {},
          h("th", { text: label }),
          ...shown.map((f) => h("td", { class: Number(f[key]) < 0 ? "bad-text" : "", text: tenThousand(f[key]) })),
          h(
            "td",
            {},
            trend(
              figures.map((f) => f[key]),
              `${label} ${t("trend")}`,
            ),
          ),
        ),
      ),
    ),
  );
}

// One contact as the log shows it: when, how, with whom, what was said, what was promised.
export function contactLine(c) {
  const people = c.people.map((p) => (p.title ? `${p.name}（${p.title}）` : p.name)).join("、");
  return h(
    "li",
    { "data-contact": c.id },
    h("strong", { text: `${date(c.occurred_at)} · ${t(`channel.${c.channel}`)} · ${people}` }),
    c.recorded_by_name ? h("span", { class: "muted", text: ` · ${c.recorded_by_name}` }) : null,
    h("div", { text: c.summary }),
    c.commitments.length
      ? h(
          "ul",
          {},
          c.commitments.map((m) =>
            h("li", { text: `${t("contact.commitment")}: ${m.text} · ${t("contact.due")} ${date(m.due_on)}` }),
          ),
        )
      : null,
  );
}

export async function renderBorrower(id, present) {
  const page = await json(`/api/v1/borrowers/${id}/overview`);
  const b = page.borrower;
  const reviewer = state.user?.role === "reviewer" || state.user?.role === "admin";
  const visitLink = (v) => (state.user?.role === "manager" ? `#/visit/${v.id}` : `#/review/${v.id}`);
  const facilities = page.facilities.map(({ facility, repayment, open_proposal: proposal }) =>
    h(
      "tr",
      {},
      h("td", { text: facility.reference }),
      h("td", { text: `${money(facility.amount)} ${facility.currency}` }),
      h("td", { text: t(`grade.${facility.risk_grade}`) }),
      h("td", {
        class: repayment?.days_past_due ? "bad-text" : "",
        text: repayment ? `${repayment.days_past_due} (${date(repayment.as_of)})` : "—",
      }),
      h(
        "td",
        {},
        proposal
          ? h(
              "div",
              {},
              h("span", { text: `${t(`grade.${proposal.current_grade}`)} → ${t(`grade.${proposal.proposed_grade}`)}` }),
              h("p", { class: "muted", text: lang() === "en" ? proposal.reason_en : proposal.reason_zh }),
              reviewer
                ? h(
                    "div",
                    { class: "row" },
                    ...["accept", "reject"].map((decision) =>
                      busyButton(
                        { type: "button", class: decision === "reject" ? "secondary" : "" },
                        t(`proposal.${decision}`),
                        "…",
                        async () => {
                          await json(`/api/v1/grade-proposals/${proposal.id}/decision`, {
                            method: "POST",
                            body: { decision },
                          });
                          await renderBorrower(id, present);
                        },
                      ),
                    ),
                  )
                : null,
            )
          : "—",
      ),
    ),
  );
  const subjects = [
    ...page.collateral.map(
      (c) =>
        `${c.description} · ${t("declaredValue")} ${money(c.declared_value)} ${c.currency} · ${c.declared_site.address}`,
    ),
    ...page.projects.map((p) => `${p.name} · ${p.declared_site.address}`),
  ];
  const newCase = `#/case-new?borrower=${id}`;
  const exportButton = busyButton({ type: "button", class: "secondary" }, t("exportVisits"), "…", () =>
    download(`/api/v1/exports/visits?format=xlsx&borrower_id=${id}`, `${b.name}.xlsx`),
  );
  present(
    h("h1", { text: b.name }),
    h("p", { class: "muted", text: `${b.credit_code} · ${b.address} · ${b.contact_name} ${b.contact_phone}` }),
    h(
      "div",
      { class: "row" },
      exportButton,
      h("a", { class: "button", href: newCase, text: t("case.new") }),
      state.user?.role !== "manager"
        ? h("a", { class: "button secondary", href: "#/dashboard", text: t("dashboard") })
        : null,
    ),
    h(
      "div",
      { class: "dashboard-grid" },
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("facilities") }),
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["facilityRef", "amount", "riskGrade", "daysPastDue", "gradeProposal"].map((k) =>
                h("th", { text: t(k) }),
              ),
            ),
          ),
          h("tbody", {}, facilities),
        ),
        h("h3", { text: t("collateralAndProjects") }),
        h(
          "ul",
          { class: "plain-list" },
          subjects.map((s) => h("li", { text: s })),
        ),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("signals") }),
        page.signals.length
          ? h(
              "ul",
              { class: "plain-list" },
              page.signals.map((s) =>
                h(
                  "li",
                  { class: `signal ${s.state}` },
                  h("span", { class: `badge ${s.severity}`, text: t(`severity.${s.severity}`) }),
                  s.state === "cleared" ? h("span", { class: "muted", text: ` ${t("cleared")} ` }) : " ",
                  lang() === "en" ? s.explanation_en : s.explanation_zh,
                  s.state === "open"
                    ? h("a", {
                        class: "link",
                        href: `${newCase}&origin=signal:${s.id}`,
                        text: ` ${t("case.openFrom")}`,
                      })
                    : null,
                ),
              ),
            )
          : h("p", { class: "muted", text: t("noSignals") }),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("figuresTitle") }),
      page.figures.length ? figuresTable(page.figures) : h("p", { class: "muted", text: t("noFigures") }),
    ),
    h(
      "div",
      { class: "dashboard-grid" },
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("visitList") }),
        h(
          "ul",
          { class: "plain-list" },
          page.visits.map((v) =>
            h(
              "li",
              {},
              h("a", { href: visitLink(v), text: `${date(v.due_on)} · ${t(`status.${v.status}`)}` }),
              ["submitted", "approved", "returned"].includes(v.status)
                ? h(
                    "span",
                    {},
                    " · ",
                    busyButton({ type: "button", class: "link" }, t("report"), "…", () =>
                      download(`/api/v1/visits/${v.id}/report`, `report-${v.id}.pdf`),
                    ),
                  )
                : null,
            ),
          ),
        ),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("openTasks") }),
        page.tasks.length
          ? h(
              "ul",
              { class: "plain-list" },
              page.tasks.map((task) =>
                h(
                  "li",
                  {},
                  h("span", { class: `badge ${task.severity}`, text: t(`severity.${task.severity}`) }),
                  " ",
                  lang() === "en" ? task.title_en : task.title_zh,
                  h("span", { class: "muted", text: ` · ${t("taskDue")} ${date(task.due_on)}` }),
                ),
              ),
            )
          : h("p", { class: "muted", text: t("noTasks") }),
      ),
    ),
    h(
      "div",
      { class: "dashboard-grid" },
      h(
        "section",
        { class: "card", "aria-label": t("cases") },
        h("h2", { text: t("cases") }),
        page.cases.length
          ? h(
              "ul",
              { class: "plain-list" },
              page.cases.map((c) =>
                h(
                  "li",
                  { "data-case": c.id },
                  h("span", { class: "badge", text: t(`caseKind.${c.kind}`) }),
                  " ",
                  h("a", { href: `#/case/${c.id}`, text: c.title }),
                  h("span", {
                    class: "muted",
                    text: ` · ${t(`caseState.${c.state}`)} · ${t("case.due")} ${date(c.due_on)}`,
                  }),
                ),
              ),
            )
          : h("p", { class: "muted", text: t("case.none") }),
      ),
      h(
        "section",
        { class: "card", "aria-label": t("contacts") },
        h("h2", { text: t("contacts") }),
        page.contacts.length
          ? h("ul", { class: "plain-list" }, page.contacts.map(contactLine))
          : h("p", { class: "muted", text: t("contact.none") }),
        h("a", { class: "button secondary", href: `#/contact-new?borrower=${id}`, text: t("contact.record") }),
      ),
    ),
  );
}
