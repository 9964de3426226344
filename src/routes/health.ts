import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "./shared";

const Health = z.object({ status: z.literal("ok"), time: z.string() }).openapi("Health");

export const healthRoutes = createRouter().openapi(
  createRoute({
    method: "get",
    path: "/health",
    tags: ["meta"],
    summary: "Liveness; needs no key",
    responses: { 200: jsonResponse(Health, "The Worker is serving.") },
  }),
  (c) => c.json({ status: "ok" as const, time: new Date().toISOString() }, 200),
);
