// The field app (managers, phone-first) and the review screens (reviewers, desktop), one app by role:
// the router, the tabs, when to sync, and the service worker's updates. Each screen is a module.
import { AuthError, loadSession } from "./core/api.js";
import { h, show } from "./core/dom.js";
import { actions, state } from "./core/state.js";
import { lang, setLang, t } from "./core/i18n.js";
import { syncOutbox } from "./core/sync.js";
import { renderLogin } from "./screens/login.js";
import { renderOutbox } from "./screens/outbox.js";
import { renderQueue, renderReviewVisit } from "./screens/review.js";
import { confirmSignOut } from "./screens/signout.js";
import { renderTasks } from "./screens/tasks.js";
import { renderTemplateEditor, renderTemplates } from "./screens/templates.js";
import { renderDashboard, renderList } from "./screens/dashboard.js";
import { renderBorrower } from "./screens/borrower.js";
import { renderCase, renderCaseForm, renderCases } from "./screens/cases.js";
import { renderContactForm } from "./screens/contact.js";
import { renderVisit } from "./screens/visit.js";
import { renderVisits } from "./screens/visits.js";
import { refreshPackageQuietly } from "./core/package.js";

const tabs = document.getElementById("tabs");
// Risk and compliance officers work cases; they read the branch's visits but do not review them.
const OFFICERS = ["risk_officer", "compliance_officer"];

function renderTabs() {
  const here = location.hash || "#/";
  const role = state.user.role;
  const links =
    role === "manager"
      ? [
          ["#/", t("visits")],
          ["#/outbox", t("outbox")],
          ["#/tasks", t("tasks")],
          ["#/cases", t("cases")],
        ]
      : OFFICERS.includes(role)
        ? [
            ["#/cases", t("cases")],
            ["#/dashboard", t("dashboard")],
            ["#/tasks", t("tasks")],
          ]
        : [
            ["#/dashboard", t("dashboard")],
            ["#/review", t("review")],
            ["#/tasks", t("tasks")],
            ["#/cases", t("cases")],
            ...(role === "admin" ? [["#/templates", t("templates")]] : []),
          ];
  tabs.replaceChildren(
    ...links.map(([href, label]) =>
      h("a", { href, text: label, "aria-current": here.split("?")[0] === href ? "page" : null }),
    ),
    h("a", {
      href: "#/",
      onclick: async (e) => {
        e.preventDefault();
        await confirmSignOut();
      },
      text: t("signOut"),
    }),
  );
  tabs.hidden = false;
}

// Each route() paints only if no later route() started meanwhile: a slow page (the review queue, say) must
// not replace the page the user has already moved on to.
let generation = 0;

async function route() {
  const token = ++generation;
  const present = (...nodes) => {
    if (token === generation) show(...nodes);
  };
  try {
    const session = await loadSession();
    state.user = session?.refresh ? session.user : null;
    if (!state.user) {
      renderLogin(session ? t("sessionExpired") : "");
      return;
    }
    renderTabs();
    const hash = location.hash || "#/";
    const [, page, id] = hash.split("?")[0].split("/");
    if (state.user.role !== "manager" && (page === "" || page === undefined)) {
      location.hash = OFFICERS.includes(state.user.role) ? "#/cases" : "#/review";
      return;
    }
    if (page === "visit") await renderVisit(id, present);
    else if (page === "outbox") await renderOutbox(present);
    else if (page === "review" && id) await renderReviewVisit(id, present);
    else if (page === "review") await renderQueue(present);
    else if (page === "tasks") await renderTasks(present);
    else if (page === "dashboard") await renderDashboard(present);
    else if (page === "borrower" && id) await renderBorrower(id, present);
    else if (page === "list") await renderList(id, present);
    else if (page === "cases") await renderCases(present);
    else if (page === "case" && id) await renderCase(id, present);
    else if (page === "case-new") await renderCaseForm(present);
    else if (page === "contact-new") await renderContactForm(present);
    else if (page === "templates" && id) await renderTemplateEditor(id, present);
    else if (page === "templates") await renderTemplates(present);
    else await renderVisits(present);
  } catch (e) {
    if (e instanceof AuthError) renderLogin(t("sessionExpired"));
    else
      show(
        h("h1", { text: t("problem") }),
        h("p", { class: "error", role: "alert", text: navigator.onLine ? e.message : t("networkError") }),
        h("a", { href: "#/", text: t("back") }),
      );
  }
}

let syncing = false;
async function kickSync() {
  // Only managers capture, so only they have an outbox and a work package (a reviewer asking for one got a 403).
  if (syncing || !navigator.onLine || state.user?.role !== "manager") return;
  syncing = true;
  try {
    const left = await syncOutbox();
    if (!left) await refreshPackageQuietly();
  } catch {
    /* retried on the next trigger */
  } finally {
    syncing = false;
  }
}

async function registerBackgroundSync() {
  try {
    const reg = await navigator.serviceWorker?.ready;
    await reg?.sync?.register("outbox");
  } catch {
    /* Safari, Firefox: the other triggers cover it */
  }
}

Object.assign(actions, { route, kickSync, registerBackgroundSync });

function showNetwork() {
  document.getElementById("net").textContent = navigator.onLine ? t("online") : t("offline");
}

async function watchForUpdates() {
  const registration = await navigator.serviceWorker.register("/sw.js", { type: "module", scope: "/" });
  registration.addEventListener("updatefound", () => {
    const incoming = registration.installing;
    incoming?.addEventListener("statechange", () => {
      if (incoming.state === "installed" && navigator.serviceWorker.controller) {
        const banner = document.getElementById("update");
        banner.replaceChildren(
          t("newVersion"),
          " ",
          h("button", { class: "secondary", text: t("reload"), onclick: () => incoming.postMessage("skipWaiting") }),
        );
        banner.hidden = false;
      }
    });
  });
  let reloading = false;
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (navigator.serviceWorker.controller && document.getElementById("update").hidden === false && !reloading) {
      reloading = true;
      location.reload();
    }
  });
}

async function start() {
  const select = document.getElementById("lang");
  select.value = lang();
  select.addEventListener("change", () => {
    setLang(select.value);
    route();
    showNetwork();
  });
  showNetwork();
  window.addEventListener("online", () => {
    showNetwork();
    kickSync();
  });
  window.addEventListener("offline", showNetwork);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") kickSync();
  });
  window.addEventListener("hashchange", route);
  if ("serviceWorker" in navigator) await watchForUpdates();
  if (navigator.storage?.persist) navigator.storage.persist().catch(() => false);
  await route();
  kickSync();
}

start();
