import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "./shared";

const Health = z.object({ status: z.literal("ok"), time: z.string() }).openapi("Health");

export const healthRoutes = createRouter();

healthRoutes.openapi(
  createRoute({
    method: "get",
    path: "/health",
    tags: ["meta"],
    summary: "Liveness; needs no key",
    responses: { 200: jsonResponse(Health, "The Worker is serving.") },
  }),
  (c) => c.json({ status: "ok" as const, time: new Date().toISOString() }, 200),
);

const Index = z
  .object({
    service: z.literal("MemOS Edge"),
    console: z.string(),
    docs: z.string(),
    openapi: z.string(),
    health: z.string(),
  })
  .openapi("Index");

/**
 * GET /: where to go next. A browser (Accept: text/html) is sent to the console; anything else gets the addresses of
 * the console, the API reference and the OpenAPI document, absolute, so a newcomer's first `curl` says what is here.
 */
healthRoutes.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["meta"],
    summary: "Where the console, the API reference and the OpenAPI document are; needs no key",
    responses: {
      200: jsonResponse(Index, "The service's entry points."),
      302: { description: "A browser is redirected to /console." },
    },
  }),
  (c) => {
    const origin = new URL(c.req.url).origin;
    if ((c.req.header("Accept") ?? "").includes("text/html")) return c.redirect(`${origin}/console`, 302);
    return c.json(
      {
        service: "MemOS Edge" as const,
        console: `${origin}/console`,
        docs: `${origin}/docs`,
        openapi: `${origin}/openapi.json`,
        health: `${origin}/health`,
      },
      200,
    );
  },
);
