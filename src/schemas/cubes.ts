/** Wire types of cubes and sharing: named cubes, their listing, and grants. */
import { z } from "@hono/zod-openapi";
import { CubeId, ExternalId, Timestamp, pageOf, text } from "./common";
import { LIMITS } from "./limits";

/** An owner as a principal: `user:<id>` or `agent:<id>`, the id as in `user_id` / `agent_id`. */
export const OwnerPrincipal = z
  .string()
  .max(LIMITS.idChars + "agent:".length)
  .regex(/^(user|agent):[^\s\u0000-\u001f\u007f]{1,128}$/, "must be `user:<id>` or `agent:<id>` (1–128 visible characters, no spaces)")
  .openapi({ example: "user:bob" });

export const CUBE_PERMISSIONS = ["read", "write"] as const;
export const CubePermission = z.enum(CUBE_PERMISSIONS).openapi("CubePermission", {
  description: "`read`: get, list, search, context, stats, jobs' status. `write`: also create, update, forget, pin, start jobs.",
});

/** How the calling key reaches a cube. */
export const CubeReachWire = z.enum(["owner", "write", "read"]).openapi("CubeAccess", {
  description:
    "`owner`: the key acts for the cube's owner (or for the whole tenant): read, write and share (sharing not with a key " +
    "confined by `allowed_cubes`). " +
    "`write` / `read`: through a grant to one of the key's owners.",
});

export const Cube = z
  .object({
    id: CubeId,
    owner: z.string().openapi({ description: "`user:<id>` or `agent:<id>`.", example: "user:alice" }),
    user_id: z.string().nullable(),
    agent_id: z.string().nullable(),
    name: z.string().openapi({ description: "Unique per owner; an owner's default cube is named `default`.", example: "recipes" }),
    is_default: z.boolean().openapi({ description: "The cube `user_id` / `agent_id` address." }),
    access: CubeReachWire,
    memory_count: z.int().openapi({
      description:
        "Live memories, as the cube last reported after a write: the count is written in the background by the next bookkeeping batch, about a second after the write (longer only while that batch is retried); changes the cube makes on its own schedule (archiving) show after its next write.",
    }),
    created_at: Timestamp,
    last_active_at: Timestamp,
  })
  .openapi("Cube");

const ownerFields = {
  user_id: ExternalId.optional().openapi({ description: "The end user who owns the cube.", example: "alice" }),
  agent_id: ExternalId.optional().openapi({ description: "The agent that owns the cube." }),
};

function exactlyOneOwner(value: { user_id?: string | undefined; agent_id?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((value.user_id === undefined) === (value.agent_id === undefined)) {
    ctx.addIssue({ code: "custom", message: "give exactly one of user_id or agent_id", path: ["user_id"] });
  }
}

export const CreateCubeRequest = z
  .object({
    ...ownerFields,
    name: text(100).openapi({ description: "Unique per owner (`default` is the owner's default cube)." }),
  })
  .strict()
  .superRefine(exactlyOneOwner)
  .openapi("CreateCubeRequest");

export const ListCubesQuery = z
  .object({
    user_id: ExternalId.optional().openapi({ description: "Only cubes this user owns." }),
    agent_id: ExternalId.optional().openapi({ description: "Only cubes this agent owns." }),
    limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
    cursor: z.string().max(400).optional().openapi({ description: "`next_cursor` of the previous page." }),
  })
  .superRefine((value, ctx) => {
    if (value.user_id !== undefined && value.agent_id !== undefined) {
      ctx.addIssue({ code: "custom", message: "give at most one of user_id or agent_id", path: ["user_id"] });
    }
  });

export const CubeList = pageOf(Cube).openapi("CubeList");

export const Grant = z
  .object({
    cube_id: CubeId,
    principal: OwnerPrincipal,
    permission: CubePermission,
    created_at: Timestamp,
    created_by_key_id: z.string().nullable().openapi({ description: "The key that granted it." }),
  })
  .openapi("Grant");

export const CreateGrantRequest = z
  .object({
    principal: OwnerPrincipal.openapi({ description: "Who gets access: `user:<id>` or `agent:<id>` of this tenant." }),
    permission: CubePermission,
  })
  .strict()
  .openapi("CreateGrantRequest");

export const ListGrantsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20),
  cursor: z.string().max(400).optional().openapi({ description: "`next_cursor` of the previous page." }),
});

export const GrantList = pageOf(Grant).openapi("GrantList");

export const GrantParams = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "cube_0123456789abcdef" }),
  principal: OwnerPrincipal.openapi({
    param: { name: "principal", in: "path" },
    example: "user:bob",
    description: "`user:<id>` or `agent:<id>`; URL-encode ids with reserved characters.",
  }),
});

export type CubeWire = z.infer<typeof Cube>;
export type GrantWire = z.infer<typeof Grant>;
export type CreateCubeWire = z.infer<typeof CreateCubeRequest>;
export type ListCubesWire = z.infer<typeof ListCubesQuery>;
export type CreateGrantWire = z.infer<typeof CreateGrantRequest>;
export type ListGrantsWire = z.infer<typeof ListGrantsQuery>;
