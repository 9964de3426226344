/**
 * GET /console and GET /docs: the web console and the API reference (Swagger UI reading /openapi.json), static
 * files built from console/ into build/assets (scripts/build-assets.mjs) and served from the Worker's assets — no
 * CDN, so both work offline and run only code this repository pinned. Pages, not API calls: left out of the
 * OpenAPI document, and like /openapi.json they need no key (the console asks for one and sends it to /v1 itself).
 */
import type { Context } from "hono";
import { ApiError } from "../errors";
import { type AppEnv, createRouter } from "./shared";

/**
 * Scripts, styles, fonts and requests from this origin only; no inline code, no framing, no plugins. Swagger UI's
 * icons are data: images. Set on every console and docs response, the pages and their files alike.
 */
export const PAGE_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy": PAGE_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
};

/** The asset at the request's path (a folder's index.html for a path ending in /), with the page headers. */
async function servePage(c: Context<AppEnv>) {
  const asset = await c.var.assets.fetch(c.req.raw);
  if (asset.status === 404) throw new ApiError("not_found", `no page at ${new URL(c.req.url).pathname}`);
  const response = new Response(asset.body, asset);
  for (const [name, value] of Object.entries(PAGE_HEADERS)) response.headers.set(name, value);
  // Fingerprinted bundle files never change; the pages themselves are revalidated so a deploy shows at once.
  const immutable = /^\/console\/assets\/[^/]+-[\w-]{8}\.(js|css)$/.test(new URL(c.req.url).pathname);
  response.headers.set("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  return response;
}

export const docsRoutes = createRouter();

// The pages load their files by relative path, so they live at the folder's URL.
for (const path of ["/console", "/docs"]) docsRoutes.get(path, (c) => c.redirect(`${path}/`, 307));
for (const path of ["/console/*", "/docs/*"]) docsRoutes.get(path, servePage);
