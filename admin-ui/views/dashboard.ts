/** Server figures and a chart of messages per day (an SVG drawn here: no chart library, no CDN). */
import { h, formatBytes } from "../dom";
import { api } from "../api";
import type { Stats } from "../types";

const SVG = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/**
 * The last 30 days, zero-filled, as bars; each bar has a title for hover and screen readers.
 * Days without messages draw no bar (the baseline shows them); the dates sit under the chart
 * as text, so they keep their size whatever the chart's width.
 */
export function chart(perDay: Stats["messages_per_day"], now = new Date()): HTMLElement {
  const counts = new Map(perDay.map((d) => [d.day, d.messages]));
  const days = Array.from({ length: 30 }, (_, i) => new Date(now.getTime() - (29 - i) * 86_400_000).toISOString().slice(0, 10));
  const max = Math.max(1, ...days.map((d) => counts.get(d) ?? 0));
  const width = 600;
  const height = 150;
  const bar = width / days.length;
  const total = days.reduce((n, d) => n + (counts.get(d) ?? 0), 0);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height + 1}`, role: "img", class: "chart", preserveAspectRatio: "none" });
  root.append(svg("title", {}, `Messages per day, last 30 days: ${total} in all, at most ${max} a day`));
  days.forEach((day, i) => {
    const n = counts.get(day) ?? 0;
    const hgt = Math.round((n / max) * height);
    const rect = svg("rect", { x: i * bar + 2, y: height - hgt, width: bar - 4, height: hgt, rx: 2 });
    rect.append(svg("title", {}, `${day}: ${n} messages`));
    root.append(rect);
  });
  root.append(svg("line", { x1: 0, y1: height + 0.5, x2: width, y2: height + 0.5, class: "baseline" }));
  return h(
    "figure",
    { class: "chart-box" },
    h("div", { class: "chart-max muted" }, `busiest day: ${max}`),
    root,
    h("figcaption", { class: "chart-axis muted" }, h("span", {}, days[0]!), h("span", {}, days[29]!)),
  );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

function tile(label: string, value: string, sub?: string) {
  return h("div", { class: "tile" }, h("div", { class: "tile-value" }, value), h("div", { class: "tile-label" }, label), sub ? h("div", { class: "tile-sub" }, sub) : null);
}

export async function dashboardView(): Promise<HTMLElement> {
  const s = await api<Stats>("GET", "/api/v1/admin/stats");
  return h(
    "section",
    { "aria-labelledby": "dash-title" },
    h("h1", { id: "dash-title", tabindex: "-1" }, "Dashboard"),
    h(
      "div",
      { class: "tiles" },
      tile("Users", String(s.users.total), `${plural(s.users.admins, "admin")} · ${s.users.disabled} disabled`),
      tile("Conversations", String(s.conversations)),
      tile("Messages today", String(s.messages.today), `${s.messages.total} in all`),
      tile("Live connections", String(s.live.connections), `${plural(s.live.users, "user")} online`),
      tile("Database", formatBytes(s.storage.database_bytes)),
      tile("Media", formatBytes(s.storage.media_bytes)),
      tile("Push queue", String(s.push.queued), `${s.push.failed} failed`),
      tile("Sessions", String(s.sessions)),
      tile("Push devices", String(s.devices)),
    ),
    h("div", { class: "card" }, h("h2", {}, "Messages per day"), chart(s.messages_per_day)),
  );
}
