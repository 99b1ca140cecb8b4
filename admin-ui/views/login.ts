/** Sign in with an administrator's email and password (the same login as every client). */
import { h, notice } from "../dom";
import { signIn, ApiError } from "../api";

export function loginView(onDone: () => void): HTMLElement {
  const status = h("div");
  const email = h("input", { id: "email", type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { id: "password", type: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    { class: "card narrow", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "confab admin"),
    h("label", { for: "email" }, "Email"),
    email,
    h("label", { for: "password" }, "Password"),
    password,
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.replaceChildren(notice("Signing in…"));
    try {
      await signIn(email.value.trim(), password.value);
      onDone();
    } catch (err) {
      const message = err instanceof ApiError ? err.message : "The server could not be reached";
      status.replaceChildren(notice(message, "error"));
      password.select();
    }
  });
  queueMicrotask(() => email.focus());
  return h("main", { class: "center" }, form);
}
