/**
 * A local stand-in for the Facebook Graph API, speaking the two calls confab makes:
 *   GET /debug_token?input_token=<user token>&access_token=<APPID>|<SECRET>
 *     → {"data":{"app_id","type","is_valid","user_id",...}} (or a Graph error for a bad app token)
 *   GET /me?fields=id,email,first_name,last_name&access_token=<user token>
 *     → the profile, only the fields asked for
 * Tests mint user tokens with `issue()`; every request is recorded.
 *
 * @example
 *   const fb = startFakeFacebook();
 *   const token = fb.issue({ id: "1001", email: "ann@example.test", first_name: "Ann", last_name: "Lee" });
 *   const s = await startTestServer({ facebook: fb.config });
 */
export interface FacebookUser {
  id: string;
  email?: string;
  first_name?: string;
  last_name?: string;
}

interface IssuedToken {
  appId: string;
  user: FacebookUser;
  valid: boolean;
}

export interface FakeFacebook {
  url: string;
  appId: string;
  appSecret: string;
  /** What to put in Config.facebook. */
  config: { graphUrl: string; appId: string; appSecret: string };
  /** Every request, in order: path and query. */
  requests: { path: string; query: URLSearchParams }[];
  /** When set, every call answers this status (e.g. 500: Graph is down). */
  failWith: number | null;
  /** Mint a user access token; `appId` other than ours makes a token of another app. */
  issue(user: FacebookUser, o?: { appId?: string; valid?: boolean }): string;
  stop(): void;
}

const graphError = (message: string, code = 190) =>
  Response.json({ error: { message, type: "OAuthException", code, fbtrace_id: "fake" } }, { status: 400 });

export function startFakeFacebook(appId = "424242", appSecret = "fake-app-secret"): FakeFacebook {
  const tokens = new Map<string, IssuedToken>();
  const fake: FakeFacebook = {
    url: "",
    appId,
    appSecret,
    config: { graphUrl: "", appId, appSecret },
    requests: [],
    failWith: null,
    issue(user, o = {}) {
      const token = `EAAfake${crypto.randomUUID().replace(/-/g, "")}`;
      tokens.set(token, { appId: o.appId ?? appId, user, valid: o.valid ?? true });
      return token;
    },
    stop: () => server.stop(true),
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const u = new URL(req.url);
      fake.requests.push({ path: u.pathname, query: u.searchParams });
      if (fake.failWith) return new Response("unavailable", { status: fake.failWith });
      // Graph accepts a version prefix (/v19.0/me); so does the fake.
      const path = u.pathname.replace(/^\/v\d+\.\d+/, "");
      if (req.method !== "GET") return graphError("Unsupported method", 100);
      if (path === "/debug_token") return debugToken(u.searchParams);
      if (path === "/me") return me(u.searchParams);
      return graphError(`Unknown path components: ${path}`, 2500);
    },
  });

  function debugToken(q: URLSearchParams): Response {
    if (q.get("access_token") !== `${appId}|${appSecret}`) return graphError("Invalid OAuth access token signature.");
    const t = tokens.get(q.get("input_token") ?? "");
    if (!t) return Response.json({ data: { is_valid: false, error: { code: 190, message: "Invalid OAuth access token." } } });
    return Response.json({
      data: {
        app_id: t.appId,
        type: "USER",
        application: "Fake App",
        is_valid: t.valid,
        user_id: t.user.id,
        expires_at: Math.floor(Date.now() / 1000) + 3600,
        scopes: ["email", "public_profile"],
      },
    });
  }

  function me(q: URLSearchParams): Response {
    const t = tokens.get(q.get("access_token") ?? "");
    if (!t || !t.valid) return graphError("Invalid OAuth access token.");
    const fields = (q.get("fields") ?? "id,name").split(",");
    const out: Record<string, string> = {};
    for (const f of fields) {
      const v = (t.user as unknown as Record<string, string | undefined>)[f];
      if (v !== undefined) out[f] = v;
    }
    return Response.json(out);
  }

  fake.url = `http://127.0.0.1:${server.port}`;
  fake.config.graphUrl = fake.url;
  return fake;
}
