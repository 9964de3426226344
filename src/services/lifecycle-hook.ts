/**
 * The signed lifecycle hook (`POST /v1/hooks/lifecycle`): platforms that drive lifecycle from their own events
 * start jobs with a request signed by a per-tenant secret instead of an API key.
 *
 * A delivery is `X-Memos-Tenant`, `X-Memos-Timestamp` (unix seconds) and `X-Memos-Signature: v1=<hex>`, the hex
 * HMAC-SHA256 keyed with the secret of `<timestamp>.<raw body>`. It is accepted once: within ±5 minutes of its
 * timestamp, and never again with the same signature.
 */
import { and, eq, lt } from "drizzle-orm";
import { randomBody } from "../core/ids";
import { toIso } from "../core/time";
import { lifecycleHookDeliveries, lifecycleHookSecrets } from "../db/schema";
import { ApiError } from "../errors";
import type { JobType, JobWire } from "../schemas/jobs";
import type { LifecycleHookSecretWire } from "../schemas/lifecycle";
import type { Deps, TenantContext } from "./context";
import { cubeStub, cubesForRead } from "./cubes";
import { openSecret, sealSecret } from "./secret-box";

/** How far a delivery's timestamp may be from the server's clock, either way. */
export const HOOK_TOLERANCE_MS = 5 * 60_000;
/** A signature verifies only within ±tolerance of its timestamp, so a record older than twice that can never match. */
export const HOOK_REPLAY_WINDOW_MS = 2 * HOOK_TOLERANCE_MS;
/** The actor recorded for work a hook delivery starts (it carries no API key). */
export const HOOK_ACTOR = "hook:lifecycle";

const SEAL_PURPOSE = "lifecycle-hook-secret";
/** `whsec_` plus 8 characters. */
const PREFIX_LENGTH = 14;
/** Cube ids per directory lookup: D1 binds at most 100 parameters per statement. */
const LOOKUP_CHUNK = 50;
/** Cubes whose jobs start at the same time. */
const START_CONCURRENCY = 10;

/** The one answer to every signature failure, so the hook cannot be used to learn which tenants exist or have a secret. */
const NOT_SIGNED = "the request is not signed with the current lifecycle hook secret of the tenant in X-Memos-Tenant";

const utf8 = new TextEncoder();

/** Creates the tenant's hook secret, or replaces it: the old one stops verifying with this call. Shown once. */
export async function createHookSecret(deps: Deps, tenantId: string): Promise<LifecycleHookSecretWire> {
  const secret = `whsec_${randomBody(40)}`;
  const row = {
    tenantId,
    sealedSecret: await sealSecret(deps.rootKey, SEAL_PURPOSE, tenantId, secret),
    prefix: secret.slice(0, PREFIX_LENGTH),
    createdAt: deps.clock(),
  };
  const { db } = deps;
  const [previous] = await db.batch([
    db.select({ tenantId: lifecycleHookSecrets.tenantId }).from(lifecycleHookSecrets).where(eq(lifecycleHookSecrets.tenantId, tenantId)),
    db
      .insert(lifecycleHookSecrets)
      .values(row)
      .onConflictDoUpdate({
        target: lifecycleHookSecrets.tenantId,
        set: { sealedSecret: row.sealedSecret, prefix: row.prefix, createdAt: row.createdAt },
      }),
  ]);
  return { secret, prefix: row.prefix, rotated: previous.length > 0, created_at: toIso(row.createdAt) };
}

export interface HookHeaders {
  tenant: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

/** A delivery whose signature checked out. */
export interface VerifiedDelivery {
  tenantId: string;
  /** Lower-case hex, the replay key. */
  signature: string;
}

/**
 * Checks a delivery's timestamp and signature over `body`, the raw bytes as received. Throws 401 on any failure;
 * the timestamp is checked first and says so (clock skew is the usual cause), every other failure reads the same.
 */
export async function verifyHookDelivery(deps: Deps, headers: HookHeaders, body: ArrayBuffer): Promise<VerifiedDelivery> {
  const timestamp = headers.timestamp?.trim() ?? "";
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(deps.clock() - Number(timestamp) * 1000) > HOOK_TOLERANCE_MS) {
    throw new ApiError("unauthorized", "X-Memos-Timestamp must be the signing time in unix seconds, within 300 s of the server's clock");
  }
  const signature = headers.signature?.trim().match(/^v1=([0-9a-fA-F]{64})$/)?.[1]?.toLowerCase();
  const tenantId = headers.tenant?.trim() ?? "";
  const secret = signature && tenantId.length > 0 && tenantId.length <= 64 ? await currentSecret(deps, tenantId) : null;

  // Unknown tenants and tenants without a secret still pay for one HMAC, so timing does not tell them apart.
  const key = secret === null ? await decoyKey() : await hmacKey(secret);
  const signed = new Uint8Array(timestamp.length + 1 + body.byteLength);
  signed.set(utf8.encode(`${timestamp}.`));
  signed.set(new Uint8Array(body), timestamp.length + 1);
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", key, hexBytes(signature ?? "00".repeat(32)), signed);
  if (!valid || secret === null || !signature) throw new ApiError("unauthorized", NOT_SIGNED);
  return { tenantId, signature };
}

async function currentSecret(deps: Deps, tenantId: string): Promise<string | null> {
  const row = await deps.db
    .select({ sealedSecret: lifecycleHookSecrets.sealedSecret })
    .from(lifecycleHookSecrets)
    .where(eq(lifecycleHookSecrets.tenantId, tenantId))
    .get();
  if (!row) return null;
  const secret = await openSecret(deps.rootKey, SEAL_PURPOSE, tenantId, row.sealedSecret);
  // Only a changed ROOT_KEY (or a damaged row) gets here: the tenant has to create a new secret.
  if (secret === null) console.error(`lifecycle hook secret of ${tenantId} cannot be opened with the current ROOT_KEY`);
  return secret;
}

const hmacKey = (secret: string) =>
  crypto.subtle.importKey("raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);

/** The key itself is kept, never the promise of its generation: workerd ties a promise to the request that settles it. */
let decoy: CryptoKey | undefined;
const decoyKey = async () =>
  (decoy ??= (await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"])) as CryptoKey);

function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * Runs a verified delivery: every cube must be the tenant's (else 404 and nothing is recorded), the delivery is
 * recorded once (a replay gets 409), then the jobs start. If they cannot all be started the record is dropped
 * again, so the platform's retry of the same request is accepted instead of refused as a replay.
 */
export async function runHookDelivery(ctx: TenantContext, delivery: VerifiedDelivery, type: JobType, cubeIds: readonly string[]): Promise<JobWire[]> {
  const unique = [...new Set(cubeIds)];
  const refs = [];
  for (let i = 0; i < unique.length; i += LOOKUP_CHUNK) refs.push(...(await cubesForRead(ctx, unique.slice(i, i + LOOKUP_CHUNK), "write")));
  const byId = new Map(refs.map((ref) => [ref.cubeId, ref]));

  await recordDelivery(ctx.deps, delivery);
  try {
    const jobs: JobWire[] = [];
    for (let i = 0; i < unique.length; i += START_CONCURRENCY) {
      const batch = unique.slice(i, i + START_CONCURRENCY).map((id) => byId.get(id)!);
      jobs.push(...(await Promise.all(batch.map((ref) => cubeStub(ctx.deps, ref).startJob(ref, type)))));
    }
    return jobs;
  } catch (error) {
    await forgetDelivery(ctx.deps, delivery).catch((cleanup: unknown) => console.error("could not forget a failed hook delivery", cleanup));
    throw error;
  }
}

/** Records a delivery, pruning records past the replay window in the same batch; 409 when it was seen before. */
async function recordDelivery(deps: Deps, delivery: VerifiedDelivery): Promise<void> {
  const now = deps.clock();
  const { db } = deps;
  const [, inserted] = await db.batch([
    db.delete(lifecycleHookDeliveries).where(lt(lifecycleHookDeliveries.receivedAt, now - HOOK_REPLAY_WINDOW_MS)),
    db
      .insert(lifecycleHookDeliveries)
      .values({ tenantId: delivery.tenantId, signature: delivery.signature, receivedAt: now })
      .onConflictDoNothing()
      .returning({ signature: lifecycleHookDeliveries.signature }),
  ]);
  if (inserted.length === 0) {
    throw new ApiError("conflict", "this delivery was already accepted (same tenant and signature); sign a new request to run the jobs again");
  }
}

async function forgetDelivery(deps: Deps, delivery: VerifiedDelivery): Promise<void> {
  const { tenantId, signature } = delivery;
  await deps.db
    .delete(lifecycleHookDeliveries)
    .where(and(eq(lifecycleHookDeliveries.tenantId, tenantId), eq(lifecycleHookDeliveries.signature, signature)));
}

/** Drops delivery records that can no longer match a valid signature (also done on every delivery; the cron catches quiet periods). */
export async function pruneHookDeliveries(deps: Deps): Promise<void> {
  await deps.db.delete(lifecycleHookDeliveries).where(lt(lifecycleHookDeliveries.receivedAt, deps.clock() - HOOK_REPLAY_WINDOW_MS));
}
