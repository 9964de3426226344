/**
 * The tenant's directory object (issue 14, items 1 and 3; docs/scale.md "The tenant directory"), one per tenant,
 * named by the tenant id: it holds the tenant's webhook subscribers and the grants on its cubes in use, loaded from
 * D1 once and kept current because every writer brackets its D1 write with `beginChange` / `endChange`
 * (src/services/tenant-directory.ts). The isolates' caches refresh from here, so a warm tenant costs D1 nothing
 * however many isolates serve it. Memory only: a restarted object reads D1 again on first use.
 */
import { DurableObject } from "cloudflare:workers";
import { type Permission, type Subscriber, type TenantChange, TenantDirectory } from "./tenant/directory";
import { d1TenantRows } from "./tenant/rows";
import { withScaleProbe } from "../src/scale-probe";

/** Cube ids one call may ask about (a multi-cube search names at most a few dozen). */
const MAX_CUBES_PER_CALL = 1_000;
const MAX_PRINCIPALS_PER_CALL = 100;
/** Asks (one set of principals each) one {@link TenantDirectoryDurableObject.grantPermissionsOfMany} call may carry. */
const MAX_ASKS_PER_CALL = 100;

/** Which cubes to look up grants on, for which principals (a key's owners). */
export interface GrantAsk {
  cubeIds: string[];
  principals: string[];
}

export class TenantDirectoryDurableObject extends DurableObject<Env> {
  private directory: { tenantId: string; held: TenantDirectory } | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    // The scale bench (SCALE_PROBE=1) counts this object's D1 reads with the Worker's; otherwise env is untouched.
    super(ctx, withScaleProbe(env, "cube"));
  }

  /** The directory of `tenantId` (the object's name; passed in because an object does not know its name). */
  private of(tenantId: string): TenantDirectory {
    if (this.directory?.tenantId !== tenantId) this.directory = { tenantId, held: new TenantDirectory(d1TenantRows(this.env.DB, tenantId)) };
    return this.directory.held;
  }

  /** The tenant's webhooks as the fan-out needs them; `fresh` re-reads D1 (a delivery insert found one gone). */
  async webhookSubscribers(tenantId: string, fresh = false): Promise<Subscriber[]> {
    return this.of(tenantId).subscribers(fresh);
  }

  /** The best permission any of `principals` holds on each cube; cubes with none are absent. */
  async grantPermissions(tenantId: string, cubeIds: string[], principals: string[]): Promise<Record<string, Permission>> {
    if (cubeIds.length > MAX_CUBES_PER_CALL || principals.length > MAX_PRINCIPALS_PER_CALL) {
      throw new RangeError(`at most ${MAX_CUBES_PER_CALL} cubes and ${MAX_PRINCIPALS_PER_CALL} principals per call`);
    }
    return this.of(tenantId).permissions(cubeIds, principals);
  }

  /**
   * {@link grantPermissions} for several asks at once, answers in their order: an isolate's due grant refreshes of
   * the tenant in one call (src/services/cubes.ts, GRANT_REFRESH_BATCH_MS). Bounded like one ask: at most
   * MAX_CUBES_PER_CALL cubes in all, MAX_ASKS_PER_CALL asks, MAX_PRINCIPALS_PER_CALL principals each.
   */
  async grantPermissionsOfMany(tenantId: string, asks: GrantAsk[]): Promise<Record<string, Permission>[]> {
    let cubes = 0;
    for (const ask of asks) {
      cubes += ask.cubeIds.length;
      if (ask.principals.length > MAX_PRINCIPALS_PER_CALL) throw new RangeError(`at most ${MAX_PRINCIPALS_PER_CALL} principals per ask`);
    }
    if (asks.length > MAX_ASKS_PER_CALL || cubes > MAX_CUBES_PER_CALL) {
      throw new RangeError(`at most ${MAX_ASKS_PER_CALL} asks and ${MAX_CUBES_PER_CALL} cubes in all per call`);
    }
    const answers: Record<string, Permission>[] = [];
    for (const ask of asks) {
      const empty = ask.cubeIds.length === 0 || ask.principals.length === 0;
      answers.push(empty ? {} : await this.of(tenantId).permissions(ask.cubeIds, ask.principals));
    }
    return answers;
  }

  /** The owner of each of these cubes that exists; cubes that do not are absent. */
  async cubeOwners(tenantId: string, cubeIds: string[]): Promise<Record<string, string>> {
    if (cubeIds.length > MAX_CUBES_PER_CALL) throw new RangeError(`at most ${MAX_CUBES_PER_CALL} cubes per call`);
    return this.of(tenantId).owners(cubeIds);
  }

  /** A writer is about to change `change`'s rows in D1. */
  beginChange(tenantId: string, change: TenantChange): void {
    this.of(tenantId).begin(change);
  }

  /** The writer's D1 write is over. */
  endChange(tenantId: string, change: TenantChange): void {
    this.of(tenantId).end(change);
  }
}
