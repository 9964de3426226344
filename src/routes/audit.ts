/** The audit log (LogQuery): what every key of the tenant did. Recording happens in app.ts's audit middleware. */
import { createRoute } from "@hono/zod-openapi";
import { AuditPage, AuditQuery } from "../schemas/audit";
import { listAudit } from "../services/audit";
import { bearerSecurity, createRouter, errorResponses, jsonResponse, tenantWideContext } from "./shared";

export const auditRoutes = createRouter().openapi(
  createRoute({
    method: "get",
    path: "/v1/audit",
    tags: ["audit"],
    summary: "The tenant's audit log, newest first (admin scope)",
    description:
      "One entry per authenticated request: actor (key id, `root` or `hook:lifecycle`), action, cube, memory ids, " +
      "request id, status and time; never content. Needs `admin`: the log shows every key's actions, which a read " +
      "key must not see. Entries are written just after each response, so the latest request may take a moment to appear.",
    security: bearerSecurity,
    request: { query: AuditQuery },
    responses: {
      200: jsonResponse(AuditPage, "A page of entries."),
      ...errorResponses("invalid_request", "unauthorized", "forbidden"),
    },
  }),
  async (c) => c.json(await listAudit(tenantWideContext(c, "admin"), c.req.valid("query")), 200),
);
