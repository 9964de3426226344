import { z } from "@hono/zod-openapi";
import { isWellFormed } from "../core/json-bounds";
import { LIMITS } from "./limits";

/** The one error shape (shared/DESIGN.md "API conventions"). */
export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "invalid_request" }),
      message: z.string(),
      details: z.unknown().optional(),
      request_id: z.string().openapi({ example: "req_0123456789abcdef" }),
    }),
  })
  .openapi("Error");

/** The message of every well-formedness refusal. */
export const WELL_FORMED = "must be well-formed Unicode (no lone surrogates)";

const utf8 = new TextEncoder();
export const utf8Bytes = (text: string) => utf8.encode(text).length;

// Control characters other than tab and newlines have no business in stored text.
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** Free text of at most `maxBytes` UTF-8 bytes that is not blank and holds no control characters. */
export function text(maxBytes: number) {
  return z
    .string()
    .refine((s) => s.trim().length > 0, "must not be empty or blank")
    .refine((s) => !CONTROL.test(s), "must not contain control characters")
    .refine(isWellFormed, WELL_FORMED)
    .refine((s) => utf8Bytes(s) <= maxBytes, `must be at most ${maxBytes} bytes (UTF-8)`);
}

/** An identifier chosen by the caller (owner, session, message id): 1–128 visible characters, no spaces. */
export const ExternalId = z
  .string()
  .min(1)
  .max(LIMITS.idChars)
  .regex(/^[^\s\u0000-\u001f\u007f]+$/, "must be visible characters without spaces")
  // Two ill-formed spellings would be stored as the same bytes and share an owner's cube (issue 16, D4).
  .refine(isWellFormed, WELL_FORMED);

export const Timestamp = z.iso.datetime({ offset: true }).openapi({ example: "2026-11-25T09:30:00Z" });

export const CubeId = z
  .string()
  .regex(/^cube_[0-9a-z]{16}$/, "must be a cube id (cube_…)")
  .openapi({ example: "cube_0123456789abcdef" });

/**
 * Owner scope of a memory call: exactly one of `user_id`, `agent_id` (that owner's default cube) or `cube_id`.
 * Spread into request objects; {@link exactlyOneScope} enforces the "exactly one".
 */
export const ownerScopeFields = {
  user_id: ExternalId.optional().openapi({ description: "End user the memories are about (their default cube).", example: "alice" }),
  agent_id: ExternalId.optional().openapi({ description: "Agent the memories belong to (its default cube)." }),
  cube_id: CubeId.optional().openapi({ description: "An explicit cube of this tenant." }),
};

export interface OwnerScopeInput {
  user_id?: string | undefined;
  agent_id?: string | undefined;
  cube_id?: string | undefined;
}

export function exactlyOneScope(value: OwnerScopeInput, ctx: z.RefinementCtx): void {
  const given = [value.user_id, value.agent_id, value.cube_id].filter((v) => v !== undefined).length;
  if (given !== 1) {
    ctx.addIssue({ code: "custom", message: "give exactly one of user_id, agent_id or cube_id", path: ["user_id"] });
  }
}

/** A list page: `{ data, next_cursor }` with an opaque cursor. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}
