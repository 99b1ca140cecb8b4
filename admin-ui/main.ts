/** The admin UI shell: sign-in gate, navigation, and a hash router over the views. */
import { h, clear, notice } from "./dom";
import { isSignedIn, logout, refresh, whenSignedOut, ApiError } from "./api";
import { loginView } from "./views/login";
import { dashboardView } from "./views/dashboard";
import { usersView } from "./views/users";
import { userView } from "./views/user";
import { settingsView } from "./views/settings";

const app = document.getElementById("app")!;
const LINKS: [string, string][] = [
  ["#/dashboard", "Dashboard"],
  ["#/users", "Users"],
  ["#/settings", "Settings"],
];

function shell(content: HTMLElement): HTMLElement {
  const route = location.hash.split("/")[1] ?? "dashboard";
  const out = h("button", { type: "button", class: "secondary small" }, "Sign out");
  out.addEventListener("click", () => void logout());
  return h(
    "div",
    { class: "layout" },
    h("a", { class: "skip", href: "#main" }, "Skip to content"),
    h("header", {}, h("span", { class: "brand" }, "confab"), h("nav", { "aria-label": "Main" }, ...LINKS.map(([href, label]) => h("a", { href, "aria-current": href.startsWith(`#/${route}`) ? "page" : undefined }, label))), out),
    h("main", { id: "main", tabindex: "-1" }, content),
  );
}

/**
 * Draw the page the hash names. `moveFocus` after a navigation puts keyboard and screen-reader
 * users at the new page's heading; a redraw after an action (disable, revoke…) leaves focus be.
 */
async function render(moveFocus = false, flash?: string) {
  if (!isSignedIn()) {
    // After signing in, show the page that was asked for (a bookmark, or where the session ended).
    clear(app, loginView(() => void render(true)));
    return;
  }
  const [, page, id] = location.hash.split("/");
  try {
    const view =
      page === "users" && id
        ? await userView(Number(id), (message) => void render(false, message), flash)
        : page === "users"
          ? await usersView()
          : page === "settings"
            ? await settingsView()
            : await dashboardView();
    clear(app, shell(view));
    if (moveFocus) app.querySelector<HTMLElement>("h1")?.focus();
  } catch (e) {
    if (!isSignedIn()) return render(true);
    clear(app, shell(h("section", {}, notice(e instanceof ApiError ? e.message : "Something went wrong", "error"))));
  }
}

whenSignedOut(() => void render(true));
window.addEventListener("hashchange", () => void render(true));
// A reload keeps the session: the refresh token in sessionStorage buys a new access token.
void refresh().finally(() => void render());
