/** One user: disable/enable, reset password, promote/demote, sessions and devices (revoke). */
import { h, notice, formatTime, describeError } from "../dom";
import { api } from "../api";
import type { Account, Device, Session } from "../types";

type Detail = Account & { sessions: Session[]; devices: Device[] };

/** `rerender(message)` redraws this page with `message` shown as its status line. */
export async function userView(id: number, rerender: (message?: string) => void, flash?: string): Promise<HTMLElement> {
  const u = await api<Detail>("GET", `/api/v1/admin/users/${id}`);
  const status = h("div", {}, flash ? notice(flash) : null);
  const act = (label: string, fn: () => Promise<unknown>, done: string, cls = "secondary") => {
    const b = h("button", { type: "button", class: cls }, label);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await fn();
        rerender(done);
      } catch (e) {
        b.disabled = false;
        status.replaceChildren(notice(describeError(e), "error"));
      }
    });
    return b;
  };

  const password = h("input", { id: "reset-password", type: "password", minlength: "8", required: true, autocomplete: "new-password" });
  const reset = h("form", { class: "inline", "aria-label": "Reset password" }, h("label", { for: "reset-password" }, "New password"), password, h("button", { type: "submit" }, "Reset password"));
  reset.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("POST", `/api/v1/admin/users/${id}/password`, { password: password.value });
      rerender("Password changed; the user's sessions were ended");
    } catch (err) {
      status.replaceChildren(notice(describeError(err), "error"));
    }
  });

  const sessions = u.sessions.length
    ? h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...[["Device"], ["Type", "hide-narrow"], ["Platform", "hide-narrow"], ["Started", "hide-narrow"], ["Last used"], [""]].map(([t, c]) => h("th", { scope: "col", class: c }, t!)))),
        h(
          "tbody",
          {},
          ...u.sessions.map((s) =>
            h(
              "tr",
              {},
              h("td", {}, s.device_id ?? "—"),
              h("td", { class: "hide-narrow" }, s.device_type ?? "—"),
              h("td", { class: "hide-narrow" }, s.platform ?? "—"),
              h("td", { class: "hide-narrow" }, formatTime(s.created_at)),
              h("td", {}, formatTime(s.last_used_at)),
              h("td", {}, act("Revoke", () => api("DELETE", `/api/v1/admin/sessions/${encodeURIComponent(s.session_id)}`), "Session revoked", "danger small")),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "No live sessions.");

  const devices = u.devices.length
    ? h(
        "table",
        {},
        h("thead", {}, h("tr", {}, ...[["Device"], ["Platform"], ["App", "hide-narrow"], ["Registered", "hide-narrow"], ["Last push"], [""]].map(([t, c]) => h("th", { scope: "col", class: c }, t!)))),
        h(
          "tbody",
          {},
          ...u.devices.map((d) =>
            h(
              "tr",
              {},
              h("td", {}, d.device_id),
              h("td", {}, d.platform),
              h("td", { class: "hide-narrow" }, d.app_version ?? "—"),
              h("td", { class: "hide-narrow" }, formatTime(d.registered_at)),
              h("td", {}, formatTime(d.last_used_at)),
              h("td", {}, act("Revoke", () => api("DELETE", `/api/v1/admin/users/${id}/devices/${encodeURIComponent(d.device_id)}`), "Device revoked", "danger small")),
            ),
          ),
        ),
      )
    : h("p", { class: "muted" }, "No push devices.");

  return h(
    "section",
    { "aria-labelledby": "user-title" },
    h("p", {}, h("a", { href: "#/users" }, "← Users")),
    h("h1", { id: "user-title", tabindex: "-1" }, `${u.first_name} ${u.last_name}`, " ", h("span", { class: "muted" }, `@${u.username}`)),
    h(
      "div",
      { class: "card" },
      h("dl", { class: "facts" }, h("dt", {}, "Email"), h("dd", {}, u.email), h("dt", {}, "Role"), h("dd", {}, u.role), h("dt", {}, "State"), h("dd", {}, u.disabled ? "disabled" : "active"), h("dt", {}, "Created"), h("dd", {}, formatTime(u.created_at)), h("dt", {}, "Last active"), h("dd", {}, formatTime(u.last_active_at))),
      h(
        "div",
        { class: "actions" },
        u.disabled
          ? act("Enable", () => api("POST", `/api/v1/admin/users/${id}/enable`), "Enabled: the user may sign in again")
          : act("Disable", () => api("POST", `/api/v1/admin/users/${id}/disable`), "Disabled: every session was ended", "danger"),
        u.role === "admin"
          ? act("Demote to user", () => api("POST", `/api/v1/admin/users/${id}/role`, { role: "user" }), "Demoted to user")
          : act("Promote to admin", () => api("POST", `/api/v1/admin/users/${id}/role`, { role: "admin" }), "Promoted to administrator"),
      ),
      reset,
      status,
    ),
    h("div", { class: "card" }, h("h2", {}, "Sessions"), h("div", { class: "scroll" }, sessions)),
    h("div", { class: "card" }, h("h2", {}, "Devices"), h("div", { class: "scroll" }, devices)),
  );
}
