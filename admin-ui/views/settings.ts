/** The server's effective settings, read-only, secrets masked (changed with flags, env or confab.toml). */
import { h } from "../dom";
import { api } from "../api";

function rows(obj: Record<string, unknown>, prefix = ""): HTMLElement[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? rows(v as Record<string, unknown>, `${prefix}${k}.`)
      : [h("tr", {}, h("th", { scope: "row" }, `${prefix}${k}`), h("td", {}, v === null ? "—" : JSON.stringify(v)))],
  );
}

export async function settingsView(): Promise<HTMLElement> {
  const s = await api<Record<string, unknown>>("GET", "/api/v1/admin/settings");
  return h(
    "section",
    { "aria-labelledby": "settings-title" },
    h("h1", { id: "settings-title", tabindex: "-1" }, "Settings"),
    h("p", { class: "muted" }, "Read-only. Change them with command-line flags, CONFAB_* environment variables or confab.toml, then restart."),
    h("div", { class: "card scroll" }, h("table", { class: "settings" }, h("tbody", {}, ...rows(s)))),
  );
}
