/**
 * The mem0 facade through mem0's official npm client (mem0ai), pointed at the Worker with its `host` option. The
 * client calls the global fetch; here that fetch hands requests for the facade's host to the Worker itself and
 * records anything else, so a call to mem0's own servers (telemetry) would show up and fail the test.
 */
import { env, runDurableObjectAlarm } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MemoryClient as Mem0Client } from "mem0ai";
import { cubeIdOfJob, cubeObjectName } from "../../src/core/ids";
import { ROOT_KEY, call, newTenant, rejection, uniqueUser } from "../helpers";

const HOST = "http://memos.test/mem0";
const elsewhere: string[] = [];
const realFetch = globalThis.fetch;
let mem0: typeof import("mem0ai");

beforeAll(async () => {
  // Read when the module loads: no telemetry to mem0's servers.
  process.env.MEM0_TELEMETRY = "false";
  globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (request.url.startsWith(`${HOST}/`)) return exports.default.fetch(request);
    elsewhere.push(request.url);
    throw new TypeError(`network disabled in tests: ${request.url}`);
  }) as typeof fetch;
  mem0 = await import("mem0ai");
});

afterAll(() => {
  globalThis.fetch = realFetch;
  expect(elsewhere).toEqual([]);
});

function clientFor(apiKey: string): Mem0Client {
  return new mem0.MemoryClient({ apiKey, host: HOST });
}


/** Runs the cube's alarm, which reads a queued conversation (the add's event). */
/**
 * Reads until `ready` holds, for up to ~5 s: the audit log and the owners directory are filled from the bookkeeping
 * queue, which delivers a batch at least every second.
 */
async function eventually<T>(read: () => Promise<T>, ready: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 100 && !ready(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    value = await read();
  }
  return value;
}

async function runAdd(tenantId: string, eventId: string) {
  const cubeId = cubeIdOfJob(eventId);
  if (!cubeId) throw new Error(`not a job id: ${eventId}`);
  await runDurableObjectAlarm(env.CUBE.getByName(cubeObjectName(tenantId, cubeId)));
}

async function eventOf(key: string, eventId: string) {
  const response = await exports.default.fetch(
    new Request(`${HOST}/v1/event/${eventId}/`, { headers: { Authorization: `Token ${key}` } }),
  );
  expect(response.status).toBe(200);
  return (await response.json()) as { status: string; results: { id: string; event: string }[] };
}

describe("mem0's official client against the facade", () => {
  it("add → event → search → get_all → get → update → history → delete → delete_all, in mem0's shapes", async () => {
    const { tenantId, key } = await newTenant();
    const client = clientFor(key);
    const userId = uniqueUser();

    const added: any = await client.add(
      [
        { role: "user", content: "I am allergic to peanuts, and I moved to Lisbon in March." },
        { role: "assistant", content: "Noted: no peanuts, and Lisbon it is." },
      ],
      { userId, runId: "onboarding", appId: "web", metadata: { channel: "chat" } },
    );
    expect(added).toMatchObject({ status: "PENDING", message: expect.any(String) });
    expect(typeof added.eventId).toBe("string");

    await runAdd(tenantId, added.eventId);
    const event = await eventOf(key, added.eventId);
    expect(event.status).toBe("SUCCEEDED");
    expect(event.results.length).toBeGreaterThan(0);
    expect(event.results.every((r) => r.event === "ADD")).toBe(true);

    // The same conversation again is the same event, and writes nothing new.
    const again: any = await client.add(
      [
        { role: "user", content: "I am allergic to peanuts, and I moved to Lisbon in March." },
        { role: "assistant", content: "Noted: no peanuts, and Lisbon it is." },
      ],
      { userId, runId: "onboarding", appId: "web", metadata: { channel: "chat" } },
    );
    expect(again.eventId).toBe(added.eventId);

    const found = await client.search("what is the user allergic to?", { filters: { user_id: userId }, topK: 3 });
    expect(found.results.length).toBeGreaterThan(0);
    const hit: any = found.results[0];
    expect(hit.memory).toMatch(/peanut/i);
    expect(hit).toMatchObject({ userId, runId: "onboarding", appId: "web", agentId: null, metadata: { channel: "chat" } });
    expect(typeof hit.score).toBe("number");
    expect(typeof hit.createdAt).toBe("string");

    const all: any = await client.getAll({ filters: { AND: [{ user_id: userId }, { run_id: "onboarding" }] }, page: 1, pageSize: 1 });
    expect(all.count).toBe(event.results.length);
    expect(all.results).toHaveLength(1);
    expect(all.previous).toBeNull();
    if (all.count > 1) expect(all.next).toContain("page=2");

    const id = hit.id as string;
    const got: any = await client.get(id);
    expect(got).toMatchObject({ id, memory: hit.memory, userId, categories: expect.any(Array) });

    const updated: any = await client.update(id, { text: "The user is allergic to peanuts and tree nuts.", metadata: { channel: "chat", checked: true } });
    expect(updated).toMatchObject({ id, memory: "The user is allergic to peanuts and tree nuts.", appId: "web", metadata: { channel: "chat", checked: true } });

    const history: any[] = await client.history(id);
    expect(history.map((h) => h.event)).toEqual(["ADD", "UPDATE"]);
    expect(history[1]).toMatchObject({ memoryId: id, oldMemory: hit.memory, newMemory: "The user is allergic to peanuts and tree nuts.", userId });

    expect(await client.delete(id)).toEqual({ message: "Memory deleted successfully!" });
    const gone = await rejection(client.get(id));
    expect(gone).toBeInstanceOf(mem0.MemoryNotFoundError);
    expect((await client.history(id)).map((h: any) => h.event)).toEqual(["ADD", "UPDATE", "DELETE"]);

    expect(await client.deleteAll({ userId })).toEqual({ message: "Memories deleted successfully!" });
    const none: any = await client.getAll({ filters: { user_id: userId } });
    expect(none).toMatchObject({ count: 0, results: [], next: null });
  });

  it("infer: false stores the messages as written, at once (async_mode: false), with the agent and app on each", async () => {
    const { key } = await newTenant();
    const client = clientFor(key);
    const userId = uniqueUser();
    const added: any = await client.add([{ role: "user", content: "Book the window seat on every flight." }], {
      userId,
      agentId: "travel-bot",
      appId: "mobile",
      infer: false,
      async_mode: false,
    } as any);
    expect(added.status).toBe("SUCCEEDED");

    const listed: any = await client.getAll({ filters: { AND: [{ user_id: userId }, { agent_id: "travel-bot" }] } });
    expect(listed.count).toBe(1);
    expect(listed.results[0]).toMatchObject({ memory: "Book the window seat on every flight.", agentId: "travel-bot", appId: "mobile", userId });
    // Another agent's memories of the same user are a different filter.
    expect((await client.getAll({ filters: { AND: [{ user_id: userId }, { agent_id: "other-bot" }] } })).count).toBe(0);
    const either: any = await client.getAll({
      filters: { AND: [{ user_id: userId }, { OR: [{ app_id: "mobile" }, { app_id: "web" }] }, { created_at: { gte: "2020-01-01" } }] },
    });
    expect(either.count).toBe(1);
  });

  it("memories of an agent without a user live in the agent's cube", async () => {
    const { key } = await newTenant();
    const client = clientFor(key);
    await client.add([{ role: "user", content: "Always answer in French." }], { agentId: "tutor", infer: false, async_mode: false } as any);
    const found: any = await client.search("which language should answers be in?", { filters: { agent_id: "tutor" } });
    expect(found.results[0]).toMatchObject({ memory: "Always answer in French.", agentId: "tutor", userId: null });
  });

  it("refuses what it cannot honour with 400s that say why, and writes nothing", async () => {
    const { key } = await newTenant();
    const client = clientFor(key);
    const userId = uniqueUser();

    const unscoped = await rejection(client.search("anything", { filters: { OR: [{ user_id: "a" }, { user_id: "b" }] } }));
    expect(unscoped).toBeInstanceOf(mem0.ValidationError);
    expect(unscoped.message).toContain("user_id");

    const instructions = await rejection(client.add([{ role: "user", content: "hi" }], { userId, customInstructions: "only food" }));
    expect(instructions).toBeInstanceOf(mem0.ValidationError);
    expect(instructions.message).toContain("custom_instructions");

    const noOwner = await rejection(client.add([{ role: "user", content: "hi" }], { runId: "r1" }));
    expect(noOwner).toBeInstanceOf(mem0.ValidationError);

    const keyword = await rejection(client.search("x", { filters: { user_id: userId, keywords: { icontains: "x" } } }));
    expect(keyword).toBeInstanceOf(mem0.ValidationError);
    expect(keyword.message).toContain("keywords");

    expect((await client.getAll({ filters: { user_id: userId } })).count).toBe(0);
  });

  it("takes our keys with mem0's Token header: a wrong key is 401, a read-only key cannot add, tenants never meet", async () => {
    const wrong = await rejection(clientFor("mos_not_a_real_key").search("x", { filters: { user_id: "u" } }));
    expect(wrong).toBeInstanceOf(mem0.AuthenticationError);

    const owner = await newTenant();
    const userId = uniqueUser();
    await clientFor(owner.key).add([{ role: "user", content: "My locker code is 4471." }], { userId, infer: false, async_mode: false } as any);
    const id = ((await clientFor(owner.key).getAll({ filters: { user_id: userId } })) as any).results[0].id;

    const readOnly = await call("POST", `/v1/admin/tenants/${owner.tenantId}/keys`, { key: ROOT_KEY, body: { scopes: ["read"] } });
    expect(readOnly.status).toBe(201);
    const refused = await rejection(clientFor(readOnly.body.key).add([{ role: "user", content: "x" }], { userId }));
    expect(refused).toBeInstanceOf(mem0.AuthenticationError);
    expect(refused.message).toContain("forbidden");

    const stranger = await newTenant();
    expect(await rejection(clientFor(stranger.key).get(id))).toBeInstanceOf(mem0.MemoryNotFoundError);
    expect(((await clientFor(stranger.key).getAll({ filters: { user_id: userId } })) as any).count).toBe(0);
  });

  it("batch-updates and batch-deletes memories, each one a version, and audits their ids", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const client = clientFor(key);
    const userId = uniqueUser();
    for (const content of ["Likes jazz.", "Drinks oat milk.", "Lives in Oslo."]) {
      await client.add([{ role: "user", content }], { userId, infer: false, async_mode: false } as any);
    }
    const ids: string[] = ((await client.getAll({ filters: { user_id: userId } })) as any).results.map((m: any) => m.id);
    expect(ids).toHaveLength(3);

    expect(await client.batchUpdate([{ memoryId: ids[0]!, text: "Likes jazz and blues." }])).toEqual({ message: "Successfully updated 1 memories" });
    expect(((await client.get(ids[0]!)) as any).memory).toBe("Likes jazz and blues.");
    expect(await client.batchDelete([ids[1]!, ids[2]!])).toEqual({ message: "Successfully deleted 2 memories" });
    expect(((await client.getAll({ filters: { user_id: userId } })) as any).results.map((m: any) => m.id)).toEqual([ids[0]]);
    expect((await client.history(ids[1]!)).map((h: any) => h.event)).toEqual(["ADD", "DELETE"]);

    const unknown = await rejection(client.batchDelete(["mem_00000000000000000000000000000000"]));
    expect(unknown).toBeInstanceOf(mem0.MemoryNotFoundError);

    const audit = await eventually(
      () => call("GET", "/v1/audit?action=memory.forget&limit=10", { key }),
      (response) => response.body.data.some((e: { status: number }) => e.status === 200),
    );
    expect(audit.body.data.find((e: { status: number }) => e.status === 200).memory_ids.sort()).toEqual([ids[1], ids[2]].sort());
  });

  it("lists users and agents as entities, and deleteUsers deletes one with everything of theirs", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const client = clientFor(key);
    const [alice, bob] = [uniqueUser(), uniqueUser()];
    await client.add([{ role: "user", content: "Alice keeps bees." }], { userId: alice, infer: false, async_mode: false } as any);
    await client.add([{ role: "user", content: "Bob collects stamps." }], { userId: bob, infer: false, async_mode: false } as any);
    await client.add([{ role: "user", content: "Reply briefly." }], { agentId: "helper", infer: false, async_mode: false } as any);

    const entities: any = await eventually(
      () => client.users(),
      (listed: any) => listed.results.some((e: any) => e.id === `user:${alice}` && e.totalMemories === 1),
    );
    expect(entities.count).toBe(3);
    expect(entities.results).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: `user:${alice}`, name: alice, type: "user", totalMemories: 1 }),
        expect.objectContaining({ id: "agent:helper", name: "helper", type: "agent" }),
      ]),
    );

    expect(await client.deleteUsers({ userId: alice })).toEqual({ message: "Entity deleted successfully." });
    expect(((await client.getAll({ filters: { user_id: alice } })) as any).count).toBe(0);
    expect(((await client.getAll({ filters: { user_id: bob } })) as any).count).toBe(1);
    expect(((await client.users()) as any).results.map((e: any) => e.id).sort()).toEqual(["agent:helper", `user:${bob}`].sort());
    const owner = await call("DELETE", `/v1/owners/user:${alice}`, { key });
    expect(owner.status).toBe(404);

    const app = await rejection(client.deleteUsers({ appId: "web" }));
    expect(app.message).toContain("only user and agent entities");
  });

  it("files each facade call in the audit log under our action names", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const client = clientFor(key);
    const userId = uniqueUser();
    await client.add([{ role: "user", content: "I prefer tea." }], { userId, infer: false, async_mode: false } as any);
    const found: any = await client.search("tea", { filters: { user_id: userId } });
    await client.delete(found.results[0].id);

    const audit = await eventually(
      () => call("GET", "/v1/audit?limit=50", { key }),
      (response) => ["key.check", "memory.write", "search", "memory.forget"].every((action) => response.body.data.some((e: { action: string }) => e.action === action)),
    );
    const actions = (audit.body.data as { action: string; memory_ids: string[] }[]).map((entry) => entry.action);
    expect(actions).toEqual(expect.arrayContaining(["key.check", "memory.write", "search", "memory.forget"]));
    const forget = (audit.body.data as { action: string; memory_ids: string[] }[]).find((entry) => entry.action === "memory.forget");
    expect(forget?.memory_ids).toEqual([found.results[0].id]);
  });
});
