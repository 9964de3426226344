/**
 * The owners directory rolls an owner's count and last activity up from its cubes (services/owners.ts), so the
 * bookkeeping consumer writes only the cubes' rows: a listing sums them, orders by the newest, and a deleted cube
 * simply stops counting (issue 14, item 1).
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createDeps } from "../../src/deps";
import worker from "../../src/index";
import { BOOKKEEPING_QUEUE, type BookkeepingMessage } from "../../src/services/bookkeeping";
import { listOwners, ownersPageQuery } from "../../src/services/owners";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const bindings = env as unknown as Env;

async function deliver(messages: BookkeepingMessage[]) {
  const batch = createMessageBatch<unknown>(
    BOOKKEEPING_QUEUE,
    messages.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, bindings);
  expect((await getQueueResult(batch, ctx)).ackAll).toBe(true);
}

const listed = async (tenantId: string) =>
  (await listOwners(createDeps(bindings), tenantId, 1, 10)).owners.map((o) => ({ owner: o.owner, count: o.memoryCount, at: o.lastActiveAt }));

describe("owners directory", () => {
  it("sums an owner's cubes, orders owners by their newest cube, and stops counting a deleted cube", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const [alice, bob] = [uniqueUser(), uniqueUser()];
    const aliceDefault = (await remember(key, alice, [{ content: "a" }]))[0].cube_id as string;
    const bobDefault = (await remember(key, bob, [{ content: "b" }]))[0].cube_id as string;
    const recipes = await call("POST", "/v1/cubes", { key, body: { user_id: alice, name: "recipes" } });
    expect(recipes.status).toBe(201);
    const t = Date.now() + 60_000;
    await deliver([
      { kind: "activity", tenantId, cubeId: aliceDefault, liveCount: 2, at: t },
      { kind: "activity", tenantId, cubeId: recipes.body.id, liveCount: 3, at: t + 20 },
      { kind: "activity", tenantId, cubeId: bobDefault, liveCount: 1, at: t + 10 },
    ]);
    expect(await listed(tenantId)).toEqual([
      { owner: `user:${alice}`, count: 5, at: t + 20 },
      { owner: `user:${bob}`, count: 1, at: t + 10 },
    ]);

    expect((await call("DELETE", `/v1/cubes/${recipes.body.id}`, { key })).status).toBe(200);
    expect(await listed(tenantId)).toEqual([
      { owner: `user:${bob}`, count: 1, at: t + 10 },
      { owner: `user:${alice}`, count: 2, at: t },
    ]);
  });

  it("lists an owner with no cube left at its creation time and a count of 0", async () => {
    const { key, tenantId } = await newTenant(["read", "write", "admin"]);
    const carol = uniqueUser();
    const before = Date.now();
    // A named cube first: the owner exists without a default cube; deleting the named one leaves no cube at all.
    const notes = await call("POST", "/v1/cubes", { key, body: { user_id: carol, name: "notes" } });
    expect(notes.status).toBe(201);
    expect((await call("DELETE", `/v1/cubes/${notes.body.id}`, { key })).status).toBe(200);
    const [entry] = await listed(tenantId);
    expect(entry).toMatchObject({ owner: `user:${carol}`, count: 0 });
    expect(entry!.at).toBeGreaterThanOrEqual(before);
  });

  it("reads only the tenant's owners and their cubes, through the primary key and the (tenant, owner, name) index", async () => {
    const { sql, params } = ownersPageQuery(createDeps(bindings).db, "ten_x", 1, 50).toSQL();
    const plan = await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...params).all<{ detail: string }>();
    const steps = plan.results.map((row) => row.detail);
    expect(steps.some((d) => /SEARCH owners USING (INDEX|PRIMARY KEY)/.test(d))).toBe(true);
    expect(steps.some((d) => /SEARCH cubes USING (COVERING )?INDEX cubes_tenant_owner_name/.test(d))).toBe(true);
    expect(steps.some((d) => /SCAN (owners|cubes)\b/.test(d))).toBe(false);
  });
});
