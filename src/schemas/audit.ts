/** Wire types of the audit log (LogQuery): `GET /v1/audit` and its archived days, `GET /v1/audit/archive`. */
import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp, pageOf } from "./common";
import { LIMITS } from "./limits";

const Name = z.string().min(1).max(64).regex(/^[\x21-\x7e][\x20-\x7e]*$/, "must be printable ASCII");

export const AuditQuery = z
  .object({
    cube_id: CubeId.optional().openapi({ description: "Only actions on this cube." }),
    actor: Name.optional().openapi({
      description: "Only actions by this actor: a key id (`key_…`), `root`, or `hook:lifecycle` (signed hook deliveries).",
      example: "key_0123456789abcdef",
    }),
    action: Name.optional().openapi({ description: "Only this action, e.g. `memory.write` (README \"Audit\" lists them).", example: "memory.forget" }),
    from: Timestamp.optional().openapi({ description: "Only actions at or after this time." }),
    to: Timestamp.optional().openapi({ description: "Only actions before this time." }),
    limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
    cursor: z.string().max(200).optional().openapi({ description: "`next_cursor` of the previous page." }),
  })
  .superRefine((query, ctx) => {
    if (query.from !== undefined && query.to !== undefined && Date.parse(query.from) >= Date.parse(query.to)) {
      ctx.addIssue({ code: "custom", message: "from must be before to", path: ["from"] });
    }
  });

export const AuditEntry = z
  .object({
    at: Timestamp.openapi({ description: "When the request arrived." }),
    actor: z.string().openapi({ description: "The key id, `root`, or `hook:lifecycle`.", example: "key_0123456789abcdef" }),
    action: z.string().openapi({
      description: "What was done, e.g. `memory.write`, `search`, `key.create`; an unnamed route reads `<METHOD> <path pattern>`.",
      example: "memory.write",
    }),
    cube_id: CubeId.nullable().openapi({ description: "The cube acted on; null when none, or several (then `detail.cube_ids`)." }),
    memory_ids: z.array(z.string()).openapi({ description: "Memories the request named or returned, at most 100." }),
    request_id: z.string().nullable().openapi({ description: "The request's X-Request-Id." }),
    status: z.int().nullable().openapi({ description: "The HTTP status of the response." }),
    detail: z.record(z.string(), z.unknown()).openapi({
      description: "Small facts about the action, never content: the error code of a refused request, more cube ids, how many memory ids were left out.",
    }),
  })
  .openapi("AuditEntry");

export const AuditPage = pageOf(AuditEntry).openapi("AuditPage");

export type AuditQueryWire = z.infer<typeof AuditQuery>;
export type AuditEntryWire = z.infer<typeof AuditEntry>;

/** A UTC day, `YYYY-MM-DD`: the name of one archived audit object. */
const Day = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/, "must be a day, YYYY-MM-DD")
  .openapi({ example: "2026-08-14" });

export const AuditArchiveQuery = z
  .object({
    limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(LIMITS.pageSize),
    cursor: Day.optional().openapi({ description: "`next_cursor` of the previous page (the last day it listed)." }),
  });

export const AuditDayParam = z.object({
  day: Day.openapi({ param: { name: "day", in: "path" } }),
});

export const AuditArchiveDay = z
  .object({
    day: Day.openapi({ description: "The UTC day whose entries are archived." }),
    bytes: z.int().openapi({ description: "Bytes of the day's NDJSON in R2 (the download can be a little smaller: an entry stored twice is sent once)." }),
    archived_at: Timestamp.openapi({ description: "When the day's newest object was written (late entries of a day are archived in an object of their own)." }),
  })
  .openapi("AuditArchiveDay");

export const AuditArchiveList = pageOf(AuditArchiveDay).openapi("AuditArchiveList");

export type AuditArchiveQueryWire = z.infer<typeof AuditArchiveQuery>;
export type AuditArchiveDayWire = z.infer<typeof AuditArchiveDay>;
