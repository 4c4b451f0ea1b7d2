// The risk dashboard (风险看板) for reviewers and admins, desktop or tablet: what needs attention, per branch,
// manager and risk grade, this month or quarter. Filters live in the URL (#/dashboard?manager_id=…), so a view
// can be shared; every figure opens the list behind it. Charts are Chartist's light SVG; the map is Leaflet.
import { BarChart } from "../../vendor/chartist.js";
import * as L from "../../vendor/leaflet.js";
import { json } from "../core/api.js";
import { h } from "../core/dom.js";
import { onTiles } from "../core/geo.js";
import { date, lang, t } from "../core/i18n.js";
import { mapSettings } from "../core/tiles.js";
import { StoredTiles } from "./map.js";
import { state } from "../core/state.js";

const SEVERITIES = ["critical", "major", "minor"];
const FILTERS = ["branch_id", "manager_id", "risk_grade", "period"];
const GRADES = ["normal", "special_mention", "substandard", "doubtful", "loss"];

function params() {
  const query = (location.hash.split("?")[1] || "").trim();
  return new URLSearchParams(query);
}

function go(next) {
  const query = new URLSearchParams([...next].filter(([, v]) => v));
  location.hash = `#/dashboard${query.toString() ? `?${query}` : ""}`;
}

// A figure and the list it opens (the list's own filters are the dashboard's).
const figure = (label, value, href, tone = "") =>
  h("a", { class: `figure ${tone}`, href }, h("strong", { text: String(value) }), h("span", { text: label }));

// An API list link (/api/v1/visits?…) as the web app's screen for it.
function screenOf(apiLink) {
  const [path, query] = apiLink.split("?");
  const name = path.split("/").pop();
  return `#/list/${name}?${query || ""}`;
}

function filterBar(filters, managers) {
  const select = (name, label, options) => {
    const control = h(
      "select",
      { "aria-label": label, name },
      options.map(([value, text]) => h("option", { value, text, selected: (filters.get(name) || "") === value })),
    );
    control.addEventListener("change", () => {
      const next = new URLSearchParams(filters);
      next.set(name, control.value);
      go(next);
    });
    return h("label", { class: "field" }, h("span", { text: label }), control);
  };
  return h(
    "div",
    { class: "row filters" },
    select("period", t("dashPeriod"), [
      ["month", t("thisMonth")],
      ["quarter", t("thisQuarter")],
    ]),
    select("manager_id", t("dashManager"), [["", t("everyone")], ...managers.map((m) => [m.manager_id, m.name])]),
    select("risk_grade", t("riskGrade"), [["", t("everyGrade")], ...GRADES.map((g) => [g, t(`grade.${g}`)])]),
  );
}

function barChart(labels, series, names, label) {
  const box = h("div", { class: "chart", role: "img", "aria-label": label });
  const legend = h(
    "p",
    { class: "muted legend-row" },
    names.map((name, i) =>
      h("span", { class: "legend" }, h("span", { class: `dot sev-${i}`, "aria-hidden": "true" }), name),
    ),
  );
  // Chartist measures its box: draw once the box is on the screen.
  const watch = new ResizeObserver(() => {
    if (!box.isConnected || !box.clientWidth) return;
    watch.disconnect();
    new BarChart(box, { labels, series }, { stackBars: true, height: "220px", axisY: { onlyInteger: true } });
  });
  watch.observe(box);
  return h("figure", { class: "chart-figure" }, box, legend);
}

async function sitesMap(sites) {
  const settings = await mapSettings();
  const ground = h("div", {
    class: `map-view dashboard-map${settings.tiles ? "" : " no-tiles"}`,
    role: "region",
    "aria-label": t("sitesMap"),
  });
  if (!sites.length) return ground;
  const watch = new ResizeObserver(() => {
    if (!ground.isConnected || !ground.clientWidth) return;
    watch.disconnect();
    const map = L.map(ground, { maxZoom: settings.max_zoom, attributionControl: false });
    if (settings.tiles) {
      new StoredTiles({ maxZoom: settings.max_zoom, tileSize: 256 }).addTo(map);
    }
    L.control.scale({ imperial: false }).addTo(map);
    const points = [];
    for (const site of sites) {
      const at = onTiles(settings.datum, site.lat, site.lon);
      points.push(at);
      L.circleMarker(at, { radius: 6, className: `map-point site-${site.state}` })
        .bindTooltip(`${site.borrower_name} · ${site.name} · ${t(`siteState.${site.state}`)}`)
        .on("click", () => {
          if (site.visit_id) location.hash = `#/review/${site.visit_id}`;
        })
        .addTo(map);
    }
    map.fitBounds(L.latLngBounds(points), { padding: [20, 20], maxZoom: 14 });
  });
  watch.observe(ground);
  return ground;
}

export async function renderDashboard(present) {
  const filters = params();
  const query = new URLSearchParams([...filters].filter(([k, v]) => v && FILTERS.includes(k)));
  const board = await json(`/api/v1/dashboard?${query}`);
  const links = board.links;
  const name = (row) => (lang() === "en" ? row.name_en : row.name_zh);
  const tasks = board.tasks;
  const openTasks = SEVERITIES.reduce((n, s) => n + tasks.open_by_severity[s], 0);
  const openSignals = board.signals.reduce((n, row) => n + row.open, 0);
  const severityNames = SEVERITIES.map((s) => t(`severity.${s}`));
  const signalChart = board.signals.length
    ? barChart(
        board.signals.map(name),
        SEVERITIES.map((s) => board.signals.map((row) => row.by_severity[s])),
        severityNames,
        t("signalsByIndicator"),
      )
    : h("p", { class: "muted", text: t("noSignals") });
  const trendChart = barChart(
    board.findings_trend.map((p) => p.month),
    SEVERITIES.map((s) => board.findings_trend.map((p) => p.by_severity[s])),
    severityNames,
    t("findingsTrend"),
  );
  present(
    h("h1", { text: t("dashboard") }),
    h("p", {
      class: "muted",
      text: `${date(board.period_from)} – ${date(board.period_to)} · ${state.user?.display_name || ""}`,
    }),
    filterBar(filters, board.visits.by_manager),
    h(
      "section",
      { class: "figures" },
      figure(
        t("visitsOverdue"),
        board.visits.overdue,
        screenOf(links.visits_overdue),
        board.visits.overdue ? "bad" : "",
      ),
      figure(t("visitsDue"), board.visits.due, screenOf(links.visits_due)),
      figure(t("visitsDone"), board.visits.done, screenOf(links.visits_done), "good"),
      figure(t("openTasks"), openTasks, "#/tasks", tasks.open_by_severity.critical ? "bad" : ""),
      figure(t("tasksPastDue"), tasks.past_due, "#/tasks", tasks.past_due ? "bad" : ""),
      figure(t("openSignals"), openSignals, screenOf(links.signals_open), openSignals ? "warn" : ""),
      figure(t("casesWaiting"), board.cases.open, "#/cases?open=true", board.cases.overdue ? "bad" : ""),
    ),
    h(
      "div",
      { class: "dashboard-grid" },
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("signalsByIndicator") }),
        signalChart,
        h(
          "ul",
          { class: "plain-list" },
          board.signals.map((row) =>
            h(
              "li",
              {},
              h("a", {
                href: `#/list/signals?state=open&indicator=${row.indicator}`,
                text: `${name(row)}: ${row.open}`,
              }),
            ),
          ),
        ),
      ),
      h("section", { class: "card" }, h("h2", { text: t("findingsTrend") }), trendChart),
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("byManager") }),
        h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ...["dashManager", "visitsDue", "visitsOverdue", "visitsDone"].map((k) => h("th", { text: t(k) })),
            ),
          ),
          h(
            "tbody",
            {},
            board.visits.by_manager.map((m) =>
              h(
                "tr",
                {},
                h(
                  "td",
                  {},
                  h("a", {
                    href: `#/dashboard?${new URLSearchParams({ ...Object.fromEntries(filters), manager_id: m.manager_id })}`,
                    text: m.name,
                  }),
                ),
                h("td", { text: String(m.due) }),
                h("td", { class: m.overdue ? "bad-text" : "", text: String(m.overdue) }),
                h("td", { text: String(m.done) }),
              ),
            ),
          ),
        ),
        h("h3", { text: t("tasksByAge") }),
        h("p", {
          text: Object.entries(tasks.open_by_age_days)
            .map(([k, v]) => `${t("days", { n: k })}: ${v}`)
            .join(" · "),
        }),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", { text: t("repeatedFindings") }),
        board.repeated_findings.length
          ? h(
              "ul",
              { class: "plain-list" },
              board.repeated_findings.map((row) =>
                h(
                  "li",
                  {},
                  h("a", {
                    href: `#/borrower/${row.borrower_id}`,
                    text: `${row.name}: ${t("repeatedCount", { n: row.findings, v: row.most_visits })}`,
                  }),
                ),
              ),
            )
          : h("p", { class: "muted", text: t("noneRepeated") }),
      ),
    ),
    h(
      "section",
      { class: "card" },
      h("h2", { text: t("sitesMap") }),
      await sitesMap(board.sites),
      h(
        "p",
        { class: "muted legend-row" },
        ["overdue", "due", "ok"].map((s) =>
          h(
            "span",
            { class: "legend" },
            h("span", { class: `dot site-${s}`, "aria-hidden": "true" }),
            t(`siteState.${s}`),
          ),
        ),
      ),
    ),
  );
}

// The list behind a figure: visits or signals with the dashboard's filters.
export async function renderList(kind, present) {
  const filters = params();
  if (kind === "signals") {
    const rows = await json(`/api/v1/signals?${filters}`);
    present(
      h("h1", { text: t("signals") }),
      h("a", { href: "#/dashboard", text: t("backToDashboard") }),
      h(
        "ul",
        { class: "plain-list card" },
        rows.map((s) =>
          h(
            "li",
            { class: "signal" },
            h("span", { class: `badge ${s.severity}`, text: t(`severity.${s.severity}`) }),
            " ",
            h("a", { href: `#/borrower/${s.borrower_id}` }, h("strong", { text: s.borrower_name })),
            " ",
            lang() === "en" ? s.explanation_en : s.explanation_zh,
            s.visit_id ? h("span", {}, " · ", h("a", { href: `#/review/${s.visit_id}`, text: t("visit") })) : null,
          ),
        ),
      ),
    );
    return;
  }
  const page = await json(`/api/v1/visits?${filters}&limit=200`);
  present(
    h("h1", { text: t("visitList") }),
    h("a", { href: "#/dashboard", text: t("backToDashboard") }),
    h(
      "table",
      { class: "card" },
      h("thead", {}, h("tr", {}, ...["borrower", "due", "status"].map((k) => h("th", { text: t(k) })))),
      h(
        "tbody",
        {},
        page.items.map((v) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: `#/review/${v.id}`, text: v.borrower_name })),
            h("td", { text: date(v.due_on) }),
            h("td", { text: t(`status.${v.status}`) }),
          ),
        ),
      ),
    ),
  );
}
