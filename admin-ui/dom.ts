/**
 * A tiny element builder. Text always goes in as text (never HTML), so nothing a user typed
 * into a name or an email can run as markup in the admin's browser.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

export function clear(el: Element, ...children: Child[]) {
  el.replaceChildren();
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
}

/** A short status line under a form: role=status so screen readers announce it. */
export function notice(text: string, kind: "ok" | "error" = "ok") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

/** An API error as one line: its message, then the per-field reasons that add something. */
export function describeError(e: unknown, fallback = "Something went wrong"): string {
  if (!(e instanceof Error) || !("details" in e)) return fallback;
  const details = (e as Error & { details: { field: string; message: string }[] }).details;
  const extra = details.filter((d) => d.message !== e.message).map((d) => `${d.field}: ${d.message}`);
  return [e.message, ...extra].join(" — ");
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1073741824) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}

export function formatTime(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}
