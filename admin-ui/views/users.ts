/** Users: search, list, create. Each row links to the user's page. */
import { h, clear, notice, formatTime, describeError } from "../dom";
import { api } from "../api";
import type { Account } from "../types";

interface Page {
  users: Account[];
  total_count: number;
  has_more: boolean;
  next_cursor: string | null;
}

function row(u: Account) {
  return h(
    "tr",
    {},
    h("td", {}, h("a", { href: `#/users/${u.user_id}` }, u.username)),
    h("td", { class: "hide-narrow" }, u.email),
    h("td", {}, `${u.first_name} ${u.last_name}`),
    h("td", {}, h("span", { class: `badge ${u.role}` }, u.role)),
    h("td", {}, u.disabled ? h("span", { class: "badge disabled" }, "disabled") : "active"),
    h("td", { class: "hide-narrow" }, formatTime(u.last_active_at)),
  );
}

function createForm(onCreated: (u: Account) => void) {
  const status = h("div");
  const field = (id: string, label: string, type = "text", extra: Record<string, string | boolean> = {}) => {
    const input = h("input", { id, name: id, type, required: true, ...extra });
    return { input, el: h("div", { class: "field" }, h("label", { for: id }, label), input) };
  };
  const f = {
    email: field("new-email", "Email", "email"),
    username: field("new-username", "Username", "text", { pattern: "[a-z0-9_.]{3,32}", title: "3–32 of a-z 0-9 _ ." }),
    first: field("new-first", "First name"),
    last: field("new-last", "Last name"),
    password: field("new-password", "Password", "password", { minlength: "8", autocomplete: "new-password" }),
  };
  const admin = h("input", { id: "new-admin", type: "checkbox" });
  const form = h(
    "form",
    { class: "card grid", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "Create a user"),
    ...Object.values(f).map((x) => x.el),
    h("div", { class: "form-end" }, h("div", { class: "field check" }, admin, h("label", { for: "new-admin" }, "Administrator")), h("button", { type: "submit" }, "Create user")),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const u = await api<Account>("POST", "/api/v1/admin/users", {
        email: f.email.input.value.trim(),
        username: f.username.input.value.trim(),
        first_name: f.first.input.value.trim(),
        last_name: f.last.input.value.trim(),
        password: f.password.input.value,
        role: admin.checked ? "admin" : "user",
      });
      form.reset();
      status.replaceChildren(notice(`Created ${u.username}`));
      onCreated(u);
    } catch (err) {
      status.replaceChildren(notice(describeError(err, "The server could not be reached"), "error"));
    }
  });
  return form;
}

export async function usersView(): Promise<HTMLElement> {
  const body = h("tbody");
  const summary = h("p", { class: "muted", role: "status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const search = h("input", { id: "user-search", type: "search", placeholder: "Email, username or name", "aria-label": "Search users" });
  let cursor: string | null = null;

  async function load(reset: boolean) {
    const q = search.value.trim();
    const params = new URLSearchParams({ limit: "50" });
    if (q) params.set("q", q);
    if (!reset && cursor) params.set("cursor", cursor);
    const page = await api<Page>("GET", `/api/v1/admin/users?${params}`);
    if (reset) clear(body);
    body.append(...page.users.map(row));
    cursor = page.next_cursor;
    more.hidden = !page.has_more;
    summary.textContent = `${page.total_count} user${page.total_count === 1 ? "" : "s"}${q ? ` matching “${q}”` : ""}`;
  }

  let debounce: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void load(true), 250);
  });
  more.addEventListener("click", () => void load(false));
  await load(true);
  return h(
    "section",
    { "aria-labelledby": "users-title" },
    h("h1", { id: "users-title", tabindex: "-1" }, "Users"),
    h("div", { class: "card" }, search, summary, h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {}, ...[["Username"], ["Email", "hide-narrow"], ["Name"], ["Role"], ["State"], ["Last active", "hide-narrow"]].map(([t, c]) => h("th", { scope: "col", class: c }, t!)))), body)), more),
    createForm(() => void load(true)),
  );
}
