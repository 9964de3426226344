import { z } from "@hono/zod-openapi";
import { CubeId, Timestamp, text } from "./common";
import { OwnerPrincipal } from "./cubes";

/** Largest `allowed_owners` and `allowed_cubes` lists (they are bound into D1 statements, at most 100 parameters). */
export const MAX_ALLOWED_OWNERS = 20;
export const MAX_ALLOWED_CUBES = 50;

export const SCOPES = ["read", "write", "admin"] as const;
export const Scope = z.enum(SCOPES).openapi("Scope");
export type ScopeName = z.infer<typeof Scope>;

export const CreateTenantRequest = z.object({ name: text(200) }).strict().openapi("CreateTenantRequest");

/**
 * Bounds of a tenant's audit retention, in days (issue 14, item 2): at least a week hot in D1, where `GET /v1/audit`
 * filters it; at most a year, so one tenant's hot log stays a bounded share of the one D1 database. Older days stay
 * exportable from R2 either way.
 */
export const MIN_AUDIT_RETENTION_DAYS = 7;
export const MAX_AUDIT_RETENTION_DAYS = 365;
export const DEFAULT_AUDIT_RETENTION_DAYS = 90;

export const Tenant = z
  .object({
    id: z.string().openapi({ example: "ten_0123456789abcdef" }),
    name: z.string(),
    created_at: Timestamp,
    audit_retention_days: z.int().openapi({
      description: "Days of audit entries `GET /v1/audit` keeps; older whole days move to `GET /v1/audit/archive`.",
      example: DEFAULT_AUDIT_RETENTION_DAYS,
    }),
  })
  .openapi("Tenant");

export const UpdateTenantRequest = z
  .object({
    audit_retention_days: z
      .int()
      .min(MIN_AUDIT_RETENTION_DAYS)
      .max(MAX_AUDIT_RETENTION_DAYS)
      .openapi({
        description:
          `Days of audit entries kept hot (${MIN_AUDIT_RETENTION_DAYS}–${MAX_AUDIT_RETENTION_DAYS}, default ${DEFAULT_AUDIT_RETENTION_DAYS}). ` +
          "The next cron run archives whole days older than that to R2; lengthening it does not bring archived days back.",
      }),
  })
  .strict()
  .openapi("UpdateTenantRequest");

export type UpdateTenantWire = z.infer<typeof UpdateTenantRequest>;

export const TenantIdParam = z.object({
  tenant_id: z.string().max(64).openapi({ param: { name: "tenant_id", in: "path" } }),
});

export const KeyIdParam = z.object({
  key_id: z.string().max(64).openapi({ param: { name: "key_id", in: "path" } }),
});

export const TenantKeyParams = TenantIdParam.extend(KeyIdParam.shape);

export const CreateKeyRequest = z
  .object({
    name: text(200).optional(),
    scopes: z
      .array(Scope)
      .min(1)
      .default(["read", "write"])
      .openapi({ description: "`read`: get, list, search. `write`: create, update, forget. `admin`: manage keys (implies both)." }),
    expires_at: Timestamp.optional().openapi({
      description: "After this time the key is refused. A key minted by an expiring key inherits its expiry and cannot outlive it.",
    }),
    allowed_owners: z
      .array(OwnerPrincipal)
      .min(1)
      .max(MAX_ALLOWED_OWNERS)
      .optional()
      .openapi({
        description:
          "Confine the key to these owners (`user:<id>` / `agent:<id>`): it reaches their cubes and the cubes granted to them, " +
          "and any other owner is not found. Absent: every owner of the tenant.",
      }),
    allowed_cubes: z
      .array(CubeId)
      .min(1)
      .max(MAX_ALLOWED_CUBES)
      .optional()
      .openapi({
        description: "Confine the key to these cubes of the tenant (with `allowed_owners`: both apply). Absent: no cube restriction.",
      }),
  })
  .strict()
  .openapi("CreateKeyRequest");

/** An API key as listed: never the secret, only its prefix. */
export const ApiKey = z
  .object({
    id: z.string().openapi({ example: "key_0123456789abcdef" }),
    tenant_id: z.string(),
    name: z.string().nullable(),
    prefix: z.string().openapi({ description: "First characters of the secret, to recognise it." }),
    scopes: z.array(Scope),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable(),
    expires_at: Timestamp.nullable(),
    revoked_at: Timestamp.nullable(),
    allowed_owners: z.array(z.string()).nullable().openapi({ description: "The owners the key acts for; null: every owner." }),
    allowed_cubes: z.array(z.string()).nullable().openapi({ description: "The cubes the key is confined to; null: no cube restriction." }),
    created_by_key_id: z.string().nullable().openapi({ description: "The key that minted this one; null when the root key did." }),
  })
  .openapi("ApiKey");

export const CreatedKey = ApiKey.extend({
  key: z.string().openapi({ description: "The secret. Shown once; only its hash is stored." }),
}).openapi("CreatedKey");

export const KeyList = z.object({ data: z.array(ApiKey) }).openapi("KeyList");

export type ApiKeyWire = z.infer<typeof ApiKey>;
export type TenantWire = z.infer<typeof Tenant>;
export type CreateKeyWire = z.infer<typeof CreateKeyRequest>;
