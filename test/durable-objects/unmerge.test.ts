/**
 * Undoing a wrong merge (issue 16, D7): one call — rolling the merged memory back to a version from before the merge
 * — restores both sides exactly (text, tags, importance, access counts, `merged_from`, state, vector) and the next
 * consolidation does not merge the pair again.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

async function consolidate(key: string, stub: ReturnType<typeof env.CUBE.getByName>, ref: CubeRef) {
  const job = await runInDurableObject(stub, (instance) => instance.startJob(ref, "consolidate"));
  await runDurableObjectAlarm(stub);
  expect((await call("GET", `/v1/jobs/${job.id}`, { key })).body.status).toBe("done");
}

const history = async (key: string, id: string) => (await call("GET", `/v1/memories/${id}/history`, { key })).body.data as any[];
/** What a merge changes and an unmerge must restore. */
const restorable = (m: any) => ({
  content: m.content,
  tags: [...m.tags].sort(),
  importance: m.importance,
  priority: m.priority,
  access_count: m.access_count,
  merged_from: m.source.merged_from,
  message_ids: [...m.source.message_ids].sort(),
  state: m.state,
  superseded_by: m.superseded_by,
});

describe("unmerge", () => {
  it("a rollback of the merged memory restores both sides exactly, its vector, and the pair is never merged again", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [a, b, c] = await remember(key, user, [
      { content: "Alice likes green tea in the morning", tags: ["drinks"], source: { message_ids: ["m1"] }, importance: 0.3, priority: 1 },
      { content: "Alice likes green tea in the morning.", tags: ["tea"], source: { message_ids: ["m2"] }, importance: 0.9, priority: 5 },
      { content: "alice likes green tea in the morning", source: { message_ids: ["m3"] }, importance: 0.2 },
    ]);
    const ref: CubeRef = { tenantId, cubeId: a.cube_id, owner: `user:${user}` };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, a.cube_id));
    await consolidate(key, stub, ref);

    // b (most important) absorbed a and c.
    const survivorAfterMerge = (await call("GET", `/v1/memories/${b.id}`, { key })).body;
    expect([...survivorAfterMerge.source.merged_from].sort()).toEqual([a.id, c.id].sort());
    const merged = (await call("GET", `/v1/memories?user_id=${user}&state=merged`, { key })).body.data;
    expect(merged.map((m: any) => m.id).sort()).toEqual([a.id, c.id].sort());
    const beforeMerge = (await history(key, a.id)).find((v) => v.change === "created");
    // Search collapses near-duplicates, so the cube's own vector index is asked directly.
    const hasVector = (id: string) => runInDurableObject(stub, (_i, state) => new VectorStore(state.storage.sql).get(id) !== null);
    expect(await hasVector(a.id)).toBe(false);

    // One call: roll the merged memory back to its version from before the merge.
    const undone = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: beforeMerge.version } });
    expect(undone.status).toBe(200);
    expect(restorable(undone.body)).toEqual(restorable(beforeMerge.memory));

    // The survivor gave back exactly what a brought: it is as if it had absorbed only c.
    const survivor = (await call("GET", `/v1/memories/${b.id}`, { key })).body;
    const survivorHistory = await history(key, b.id);
    const preAbsorb = survivorHistory.find((v) => v.change === "created").memory;
    expect(survivor.source.merged_from).toEqual([c.id]);
    expect([...survivor.tags].sort()).toEqual(["tea"]);
    expect([...survivor.source.message_ids].sort()).toEqual(["m2", "m3"]);
    // Importance and priority: the highest of b before the merge and c (priority 50 is the default).
    expect([survivor.importance, survivor.priority]).toEqual([0.9, Math.max(5, c.priority)]);
    // Reading the survivor counts as an access; the rest of its count is its own and c's.
    expect(survivor.access_count).toBeLessThanOrEqual(survivorAfterMerge.access_count - beforeMerge.memory.access_count + 2);
    expect(survivorHistory.at(-1)).toMatchObject({ change: "rolled_back" });

    // a is findable by vector again, and stays apart from b after the next consolidation; c can still be unmerged.
    expect(await hasVector(a.id)).toBe(true);
    await consolidate(key, stub, ref);
    expect((await call("GET", `/v1/memories/${a.id}`, { key })).body).toMatchObject({ state: beforeMerge.memory.state, superseded_by: null });
    const cBefore = (await history(key, c.id)).find((v) => v.change === "created");
    expect((await call("POST", `/v1/memories/${c.id}/rollback`, { key, body: { version: cBefore.version } })).status).toBe(200);
    const alone = (await call("GET", `/v1/memories/${b.id}`, { key })).body;
    expect(restorable({ ...alone, access_count: preAbsorb.access_count })).toEqual(restorable(preAbsorb));
    await consolidate(key, stub, ref);
    // Neither is merged into b again (a and c were never unmerged from each other: they may merge).
    const all = (await call("GET", `/v1/memories?user_id=${user}&state=activated&state=generated&state=merged`, { key })).body.data;
    expect(all.find((m: any) => m.id === b.id)).toMatchObject({ state: "activated", superseded_by: null });
    expect(all.filter((m: any) => m.superseded_by === b.id)).toEqual([]);
    expect((await call("GET", `/v1/memories/${b.id}`, { key })).body.source.merged_from).toBeUndefined();
  }, 30_000);

  it("refuses a rollback of a merged memory to a version that was not live before the merge", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [a] = await remember(key, user, [{ content: "Bob drinks coffee at noon", importance: 0.1 }, { content: "Bob drinks coffee at noon.", importance: 0.9 }]);
    const ref: CubeRef = { tenantId, cubeId: a.cube_id, owner: `user:${user}` };
    await consolidate(key, env.CUBE.getByName(cubeObjectName(tenantId, a.cube_id)), ref);
    const mergedVersion = (await history(key, a.id)).find((v) => v.change === "merged");
    const refused = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: mergedVersion.version } });
    expect(refused.status).toBe(409);
    expect((await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: 99 } })).status).toBe(404);
  }, 30_000);
});
