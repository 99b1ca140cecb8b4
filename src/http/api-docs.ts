/**
 * The REST reference: OpenAPI 3.1 at `/api/docs/json`, generated from the routes' t.* schemas,
 * and Swagger UI at `/api/docs`, served from files embedded in the executable.
 *
 * Why not `openapi()` from @elysiajs/openapi as it comes: its generator takes a request body's
 * media types from the route's parse hooks and skips hooks that are functions, so the
 * envelope's global JSON parser (bounded reads, INVALID_JSON) left every `requestBody.content`
 * empty. Here the same generator sees the routes with that hook named for what it parses, JSON.
 * And its UI page loads Scalar from a CDN at "latest": a self-hosted server's docs should work
 * offline and run no code we did not ship.
 *
 * @example
 *   app.use(apiDocs({ info: { title: "confab", version: "1" }, exclude: ["/metrics"] }))
 */
import { Elysia, type InternalRoute } from "elysia";
import { toOpenAPISchema } from "@elysiajs/openapi";
import uiScript from "swagger-ui-dist/swagger-ui-bundle.js" with { type: "file" };
import uiStyle from "swagger-ui-dist/swagger-ui.css" with { type: "file" };

export const DOCS_PATH = "/api/docs";
export const SPEC_PATH = `${DOCS_PATH}/json`;

export interface ApiDocsOptions {
  info: { title: string; version: string; description?: string };
  /** Merged into the spec's `components` (security schemes). */
  components?: Record<string, unknown>;
  security?: Record<string, string[]>[];
  /** Routes left out of the spec, besides the docs' own. */
  exclude: string[];
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8" />
  <meta name="viewport" content="width=device-width, initial-scale=1" />
  <title>API reference</title>
  <link rel="stylesheet" href="${DOCS_PATH}/swagger-ui.css" />
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${DOCS_PATH}/swagger-ui.js"></script>
  <script src="${DOCS_PATH}/init.js"></script>
</body>
</html>`;

// A file of its own rather than an inline script, so a Content-Security-Policy can say 'self'.
// validatorUrl null: the UI would otherwise send the spec to validator.swagger.io for a badge.
const INIT = `window.ui = SwaggerUIBundle({ url: "${SPEC_PATH}", dom_id: "#swagger-ui", deepLinking: true, validatorUrl: null });`;

/**
 * What the generator reads from an app. Elysia points a plugin's copies of these at the root app
 * when the plugin is used, so they see every route; its types mark them protected.
 */
interface RouteSource {
  getGlobalRoutes(): InternalRoute[];
  getGlobalDefinitions(): unknown;
}

/** The routes as the generator should see them: a function parse hook is our JSON parser. */
function asDocumented(routes: InternalRoute[]): InternalRoute[] {
  return routes.map((route) => {
    const parse = (route.hooks as { parse?: { fn: unknown }[] }).parse;
    if (!parse?.some((p) => typeof p.fn === "function")) return route;
    return { ...route, hooks: { ...route.hooks, parse: parse.map((p) => (typeof p.fn === "function" ? { ...p, fn: "json" } : p)) } };
  });
}

export function apiDocs(o: ApiDocsOptions) {
  const docs = new Elysia({ name: "api-docs" });
  const app = docs as unknown as RouteSource;
  // WebSocket routes are not operations OpenAPI can describe (the generator would emit a `ws`
  // method, which makes the document invalid); the WebSocket protocol is documented on its own.
  const exclude = { paths: [...o.exclude, DOCS_PATH, new RegExp(`^${DOCS_PATH}/`)], methods: ["options", "ws"] };
  // Built on first request, when every route is registered; rebuilt only if routes were added.
  let cached: { routes: number; spec: unknown } | undefined;

  function spec() {
    const routes = app.getGlobalRoutes();
    if (cached?.routes === routes.length) return cached.spec;
    const view: RouteSource = { getGlobalRoutes: () => asDocumented(routes), getGlobalDefinitions: () => app.getGlobalDefinitions() };
    const { paths, components } = toOpenAPISchema(view as unknown as Elysia, exclude);
    const spec = {
      openapi: "3.1.2",
      info: o.info,
      paths,
      components: { ...o.components, schemas: components.schemas },
      ...(o.security ? { security: o.security } : {}),
    };
    cached = { routes: routes.length, spec };
    return spec;
  }

  const hidden = { detail: { hide: true } };
  return docs
    .get(SPEC_PATH, spec, hidden)
    .get(DOCS_PATH, () => new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } }), hidden)
    .get(`${DOCS_PATH}/init.js`, () => new Response(INIT, { headers: { "content-type": "text/javascript; charset=utf-8" } }), hidden)
    .get(`${DOCS_PATH}/swagger-ui.js`, () => asset(uiScript, "text/javascript; charset=utf-8"), hidden)
    .get(`${DOCS_PATH}/swagger-ui.css`, () => asset(uiStyle, "text/css; charset=utf-8"), hidden);
}

function asset(path: string, type: string) {
  // Versioned with the executable: a day of caching spares reloads without pinning old files long.
  return new Response(Bun.file(path), { headers: { "content-type": type, "cache-control": "public, max-age=86400" } });
}
