// Signing in. A manager who signs in on a phone another manager used sees only their own work (core/store.js).
import { HttpError, signIn } from "../core/api.js";
import { field, h, show } from "../core/dom.js";
import { actions, state } from "../core/state.js";
import { t } from "../core/i18n.js";

export function renderLogin(message) {
  document.getElementById("tabs").hidden = true;
  const username = h("input", {
    name: "username",
    autocomplete: "username",
    required: true,
    "aria-label": t("username"),
  });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-label": t("password"),
  });
  const error = h("p", { class: "error", role: "alert", text: message || "" });
  const button = h("button", { type: "submit", text: t("signIn") });
  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (event) => {
        event.preventDefault();
        if (button.disabled) return;
        button.disabled = true;
        button.setAttribute("aria-busy", "true");
        button.textContent = t("signingIn");
        try {
          state.user = await signIn(username.value.trim(), password.value);
          location.hash = "#/";
          await actions.route();
          actions.kickSync();
        } catch (e) {
          error.textContent =
            e instanceof HttpError && e.status === 401
              ? t("badLogin")
              : navigator.onLine && e instanceof HttpError
                ? e.message
                : t("offlineLogin");
        } finally {
          button.disabled = false;
          button.removeAttribute("aria-busy");
          button.textContent = t("signIn");
        }
      },
    },
    h("h1", { text: t("signInTitle") }),
    field(t("username"), username),
    field(t("password"), password),
    error,
    button,
  );
  show(form);
}
