/**
 * What a request carries into the services: the narrow dependencies built once per request, who is calling,
 * and the request's own ids. Routes build it in a middleware and never read `c.env` themselves.
 */
import type { CubeDurableObject } from "../../durable-objects/cube";
import type { RateLimiterDurableObject } from "../../durable-objects/rate-limiter";
import type { Clock } from "../core/time";
import type { Db } from "../db/client";
import type { ScopeName } from "../schemas/admin";
import type { Retrieval } from "../adapters/factory";
import type { AuditArchive } from "./audit-archive";
import type { Bookkeeping } from "./bookkeeping";
import type { AuditDurableObject } from "../../durable-objects/audit";
import type { TenantDirectoryDurableObject } from "../../durable-objects/tenant";

export interface Deps {
  db: Db;
  cubes: DurableObjectNamespace<CubeDurableObject>;
  clock: Clock;
  /** The operator's root key (ROOT_KEY secret); absent means admin routes refuse every caller. */
  rootKey: string | undefined;
  /** Per-key rate limiters, which are also where a key's revocation takes effect (services/auth.ts). */
  limiters: DurableObjectNamespace<RateLimiterDurableObject>;
  /** Where audit entries, directory counts and key use go, to reach D1 in batches (services/bookkeeping.ts). */
  bookkeeping: Bookkeeping;
  /** The embedder and reranker, for work done once in the Worker rather than in every cube (multi-cube search). */
  retrieval: () => Retrieval;
  /** One audit object per tenant: the tenant's audit log, out of D1 (services/audit-log.ts). */
  auditLogs: DurableObjectNamespace<AuditDurableObject>;
  /** The R2 bucket holding audit days past their tenant's retention (services/audit-archive.ts). */
  auditArchive: AuditArchive;
  /** One directory object per tenant: its webhook subscribers and grants, off D1 (services/tenant-directory.ts). */
  tenants: DurableObjectNamespace<TenantDirectoryDurableObject>;
}

/**
 * A tenant key's confinement. `null` means "no restriction of this kind". A key with `allowedOwners` acts for
 * those owners (`user:<id>` / `agent:<id>`): their cubes and the cubes granted to them; with `allowedCubes` it
 * reaches only those cubes. Both set: both apply.
 */
export interface KeyRestrictions {
  allowedOwners: ReadonlySet<string> | null;
  allowedCubes: ReadonlySet<string> | null;
  /** When the key stops working (ms), or null; a key it mints can never outlive it. */
  expiresAt: number | null;
}

export type Principal =
  | { kind: "root" }
  | {
      kind: "tenant";
      tenantId: string;
      keyId: string;
      scopes: ReadonlySet<ScopeName>;
      /**
       * Set for every API key by auth. Absent only in system contexts that carry no key (the signed lifecycle hook),
       * which act tenant-wide.
       */
      restrictions?: KeyRestrictions;
      /** The key's own rate limits (null: the configured default), from its row; absent for system contexts. */
      rateLimits?: { requests: number | null; writeBytes: number | null };
    };

export type TenantPrincipal = Extract<Principal, { kind: "tenant" }>;

export interface RequestContext {
  deps: Deps;
  requestId: string;
  /** Runs work after the response is sent (bookkeeping that the caller need not wait for); failures are logged. */
  background: (work: Promise<unknown>) => void;
  /** Ends a stage of the request's Server-Timing (middleware/server-timing.ts); absent outside HTTP. */
  lap?: (stage: string) => void;
}

export interface TenantContext extends RequestContext {
  principal: TenantPrincipal;
  /** The validated Idempotency-Key header, when the request has one. */
  idempotencyKey: string | undefined;
}
