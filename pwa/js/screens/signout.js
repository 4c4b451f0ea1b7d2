// Signing out. With parts the server has not confirmed it says how many and offers to sync first: on a
// shared phone the parts stay, bound to their owner, until that manager signs in again and syncs.
import { signOut } from "../core/api.js";
import { h } from "../core/dom.js";
import { actions } from "../core/state.js";
import { t } from "../core/i18n.js";
import { pending } from "../core/sync.js";
import { renderLogin } from "./login.js";

export async function confirmSignOut() {
  const unsent = (await pending()).length;
  const leave = async () => {
    await signOut();
    renderLogin();
  };
  if (!unsent) {
    await leave();
    return;
  }
  const dialog = h(
    "dialog",
    { "aria-labelledby": "sign-out-title" },
    h("h2", { id: "sign-out-title", text: t("unsentTitle") }),
    h("p", { text: t("unsentBody", { n: unsent }) }),
    h(
      "div",
      { class: "row" },
      h("button", {
        text: t("syncFirst"),
        onclick: () => {
          dialog.close();
          location.hash = "#/outbox";
          actions.kickSync();
        },
      }),
      h("button", {
        class: "danger",
        text: t("signOutAnyway"),
        onclick: async () => {
          dialog.close();
          await leave();
        },
      }),
      h("button", { class: "secondary", text: t("cancel"), onclick: () => dialog.close() }),
    ),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}
