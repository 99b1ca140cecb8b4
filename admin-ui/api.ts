/**
 * The admin UI is just another client of the public API (STYLE habit 13). The access token lives
 * in memory only; the refresh token in sessionStorage (gone when the tab closes), and it is used
 * a minute before the access token expires, or once when a request answers 401.
 */
const REFRESH_KEY = "confab.admin.refresh";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

let accessToken: string | null = null;
let refreshTimer: ReturnType<typeof setTimeout> | null = null;
let onSignedOut: () => void = () => {};

export function whenSignedOut(fn: () => void) {
  onSignedOut = fn;
}

export function isSignedIn(): boolean {
  return accessToken !== null;
}

interface AuthBody {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: { user_id: number; username: string };
}

function keep(body: AuthBody) {
  accessToken = body.access_token;
  sessionStorage.setItem(REFRESH_KEY, body.refresh_token);
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh(), Math.max(5, body.expires_in - 60) * 1000);
}

/** Drop the tokens without telling the page (a sign-in that is refused keeps its form). */
function forget() {
  accessToken = null;
  sessionStorage.removeItem(REFRESH_KEY);
  if (refreshTimer) clearTimeout(refreshTimer);
  refreshTimer = null;
}

export function signOut() {
  forget();
  onSignedOut();
}

async function send(method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function parse<T>(res: Response): Promise<T> {
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const e = data?.error ?? {};
    throw new ApiError(res.status, e.code ?? "ERROR", e.message ?? `HTTP ${res.status}`, e.details ?? []);
  }
  return data as T;
}

/** Call the API as the signed-in admin; one refresh-and-retry on 401. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res = await send(method, path, body);
  if (res.status === 401 && (await refresh())) res = await send(method, path, body);
  if (res.status === 401) signOut();
  return parse<T>(res);
}

export async function signIn(email: string, password: string): Promise<void> {
  const body = await parse<AuthBody>(
    await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password, device_id: "admin-ui", device_type: "web", platform: "web" }),
    }),
  );
  keep(body);
  const probe = await send("GET", "/api/v1/admin/stats");
  if (probe.ok) return;
  // Signed in, but not an administrator (or the check failed): end the session this page cannot
  // use, quietly, so the sign-in form stays on screen to show why.
  await send("POST", "/api/v1/auth/logout", {}).catch(() => {});
  forget();
  if (probe.status === 403) throw new ApiError(403, "FORBIDDEN", "This account is not an administrator");
  await parse(probe);
}

let refreshing: Promise<boolean> | null = null;

/**
 * Trade the stored refresh token for new tokens; false when there is none or it is refused.
 * One exchange at a time: refresh tokens are single-use, and presenting one twice (two requests
 * answered 401 together, or the timer firing meanwhile) would end the session as stolen.
 */
export function refresh(): Promise<boolean> {
  refreshing ??= exchange().finally(() => (refreshing = null));
  return refreshing;
}

async function exchange(): Promise<boolean> {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return false;
  const res = await fetch("/api/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: token }),
  });
  if (!res.ok) {
    forget();
    return false;
  }
  keep((await res.json()) as AuthBody);
  return true;
}

export async function logout() {
  await api("POST", "/api/v1/auth/logout", {}).catch(() => {});
  signOut();
}
