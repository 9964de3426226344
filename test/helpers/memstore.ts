/** MemStore test helpers shared by test/routes/memstore*.test.ts: publishing through the API, and where a version lives. */
import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call } from "../helpers";

export interface VersionRow {
  tenant_id: string;
  snapshot_cube_id: string;
  snapshot_key: string;
}

/** Where a version's snapshot lives (D1 only: no route reveals it). */
export async function versionRow(listingId: string, version: number): Promise<VersionRow> {
  const row = await env.DB.prepare("SELECT tenant_id, snapshot_cube_id, snapshot_key FROM memstore_versions WHERE listing_id = ? AND version = ?")
    .bind(listingId, version)
    .first<VersionRow>();
  if (!row) throw new Error(`no version ${version} of ${listingId}`);
  return row;
}

/** Runs the snapshot cube's alarm until the version is ready, as GET /v1/memstore/listings/{id} reports it. */
export async function untilReady(key: string, listingId: string, version: number) {
  const row = await versionRow(listingId, version);
  const stub = env.CUBE.getByName(cubeObjectName(row.tenant_id, row.snapshot_cube_id));
  for (let i = 0; i < 50; i++) {
    const listing = await call("GET", `/v1/memstore/listings/${listingId}`, { key });
    const status = listing.body.versions.find((v: { version: number }) => v.version === version)?.status;
    if (status === "ready") return listing.body;
    if (status !== "preparing") throw new Error(`version ${version}: ${status}`);
    await runDurableObjectAlarm(stub);
  }
  throw new Error(`version ${version} of ${listingId} never became ready`);
}

/** Publishes `cubeId` as a new listing (201), with `body` over a default name, description, tags and licence. */
export async function publish(key: string, cubeId: string, body: object = {}) {
  const response = await call("POST", "/v1/memstore/listings", {
    key,
    body: { cube_id: cubeId, name: `recipes ${crypto.randomUUID()}`, description: "Baking know-how", tags: ["baking"], licence: "CC-BY-4.0", ...body },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}
