/** The audit log (LogQuery): what every key of the tenant did. Recording happens in app.ts's audit middleware. */
import { createRoute, z } from "@hono/zod-openapi";
import { AuditArchiveList, AuditArchiveQuery, AuditDayParam, AuditPage, AuditQuery } from "../schemas/audit";
import { listArchivedDays, openArchivedDay } from "../services/audit-archive";
import { listAudit } from "../services/audit";
import { bearerSecurity, createRouter, errorResponses, jsonResponse, tenantWideContext } from "./shared";

const NDJSON = "application/x-ndjson";

export const auditRoutes = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/audit",
      tags: ["audit"],
      summary: "The tenant's audit log, newest first (admin scope)",
      description:
        "One entry per authenticated request: actor (key id, `root` or `hook:lifecycle`), action, cube, memory ids, " +
        "request id, status and time; never content. Needs `admin`: the log shows every key's actions, which a read " +
        "key must not see. Entries are written just after each response, so the latest request may take a moment to appear. " +
        "Entries older than the tenant's retention (`audit_retention_days`, default 90) are archived by day: `GET /v1/audit/archive`.",
      security: bearerSecurity,
      request: { query: AuditQuery },
      responses: {
        200: jsonResponse(AuditPage, "A page of entries."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden"),
      },
    }),
    async (c) => c.json(await listAudit(tenantWideContext(c, "admin"), c.req.valid("query")), 200),
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/audit/archive",
      tags: ["audit"],
      summary: "The tenant's archived audit days, oldest first (admin scope)",
      description:
        "Audit entries older than the tenant's retention leave `GET /v1/audit` and are kept in R2, one NDJSON object per " +
        "UTC day. This lists those days; download one at `GET /v1/audit/archive/{day}`.",
      security: bearerSecurity,
      request: { query: AuditArchiveQuery },
      responses: {
        200: jsonResponse(AuditArchiveList, "A page of archived days."),
        ...errorResponses("invalid_request", "unauthorized", "forbidden"),
      },
    }),
    async (c) => {
      const { deps, principal } = tenantWideContext(c, "admin");
      return c.json(await listArchivedDays(deps.auditArchive, principal.tenantId, c.req.valid("query")), 200);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/audit/archive/{day}",
      tags: ["audit"],
      summary: "Download one archived audit day as NDJSON (admin scope)",
      description:
        "One entry a line, oldest first, in the shape of `GET /v1/audit`'s entries plus `seq` (the entry's sequence number) " +
        "and `id` (its idempotent id). 404 when the tenant has no archived entries for that day.",
      security: bearerSecurity,
      request: { params: AuditDayParam },
      responses: {
        200: { content: { [NDJSON]: { schema: z.string() } }, description: "The day's entries, one JSON object per line." },
        ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found"),
      },
    }),
    async (c) => {
      const { deps, principal } = tenantWideContext(c, "admin");
      const day = c.req.valid("param").day;
      const { body } = await openArchivedDay(deps.auditArchive, principal.tenantId, day);
      // Merged from the day's objects as it streams: no length up front.
      return c.body(body, 200, { "Content-Type": NDJSON, "Content-Disposition": `attachment; filename="audit-${day}.ndjson"` }) as never;
    },
  );
