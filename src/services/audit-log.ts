/**
 * The service side of the tenants' audit objects (durable-objects/audit.ts): where the bookkeeping consumer appends
 * entries, `GET /v1/audit` reads and an erasure deletes. One object per tenant, named by the tenant id.
 */
import type { AuditLogRow, AuditPageFilters, AuditRecord } from "../../durable-objects/audit/log";
import type { Deps } from "./context";
import type { QueuedAuditEntry } from "./bookkeeping";

const auditObject = (deps: Pick<Deps, "auditLogs">, tenantId: string) => deps.auditLogs.getByName(tenantId);

/**
 * Appends a batch's entries, one call per tenant, all at once. Throws when any object does: the queue redelivers the
 * whole batch and the objects that already took their entries ignore them by id.
 */
export async function appendAuditEntries(deps: Pick<Deps, "auditLogs">, entries: readonly QueuedAuditEntry[]): Promise<void> {
  const byTenant = new Map<string, AuditRecord[]>();
  for (const e of entries) {
    const record: AuditRecord = {
      id: e.id,
      at: e.at,
      actor: e.actor,
      action: e.action,
      cubeId: e.cubeId ?? null,
      memoryIds: e.memoryIds ?? "[]",
      requestId: e.requestId ?? null,
      status: e.status ?? null,
      detail: e.detail ?? "{}",
    };
    const list = byTenant.get(e.tenantId);
    if (list) list.push(record);
    else byTenant.set(e.tenantId, [record]);
  }
  await Promise.all([...byTenant].map(([tenantId, records]) => auditObject(deps, tenantId).append(tenantId, records)));
}

/** One page of the tenant's entries held in its object, newest first, plus one to tell whether there is more. */
export function auditObjectPage(deps: Deps, tenantId: string, filters: AuditPageFilters, limit: number): Promise<AuditLogRow[]> {
  return auditObject(deps, tenantId).page(filters, limit);
}

/**
 * Deletes the tenant's audit entries naming these cubes, and makes its object drop entries of them still on the
 * queue. Called before the erasure's D1 commit, like the wipe of the cubes themselves: a failure fails the request.
 */
export async function eraseAuditOfCubes(deps: Deps, tenantId: string, cubeIds: readonly string[]): Promise<void> {
  if (cubeIds.length > 0) await auditObject(deps, tenantId).eraseCubes(tenantId, [...cubeIds]);
}
