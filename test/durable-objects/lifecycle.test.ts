/**
 * MemLifecycle end to end: time machine (rollback, as_of), TTL on the alarm, archive to R2 and back,
 * consolidation. The cube's clock is moved inside the object (runInDurableObject) instead of waiting.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { archiveKey } from "../../durable-objects/cube/r2-keys";
import { QUIET_MS } from "../../durable-objects/cube/upkeep";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { call, errorOf } from "../helpers";
import { cubeWith, setCubeClock } from "../helpers/cubes";

const DAY = 86_400_000;

async function cube(memories: object[]) {
  const { key, user, ref, cubeId, stub, written } = await cubeWith(memories);
  const setClock = (offset: number) => setCubeClock(stub, offset);
  const events = (memoryId: string) =>
    runInDurableObject(stub, (_instance, state) =>
      state.storage.sql
        .exec("SELECT type, actor, data FROM events WHERE memory_id = ? ORDER BY seq", memoryId)
        .toArray()
        .map((row) => ({ type: String(row.type), actor: String(row.actor), ...JSON.parse(String(row.data)) })),
    );
  return { key, user, ref, cubeId, stub, written, setClock, events };
}

const searchIds = async (key: string, body: object) =>
  (await call("POST", "/v1/search", { key, body })).body.data.map((hit: any) => hit.id);

describe("time machine", () => {
  it("rollback brings an earlier version back as a new version, searchable by its old words", async () => {
    const { key, user, written, events } = await cube([{ content: "Alice lives in Paris" }]);
    const id = written[0].id;
    expect((await call("PATCH", `/v1/memories/${id}`, { key, body: { content: "Alice lives in Berlin", tags: ["moved"] } })).status).toBe(200);

    const rolled = await call("POST", `/v1/memories/${id}/rollback`, { key, body: { version: 1 } });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ content: "Alice lives in Paris", tags: [], version: 3, state: "activated" });
    const history = await call("GET", `/v1/memories/${id}/history`, { key });
    expect(history.body.data.map((v: any) => [v.version, v.change, v.memory.content])).toEqual([
      [1, "created", "Alice lives in Paris"],
      [2, "updated", "Alice lives in Berlin"],
      [3, "rolled_back", "Alice lives in Paris"],
    ]);
    expect(await searchIds(key, { user_id: user, query: "Paris" })).toEqual([id]);
    expect(await searchIds(key, { user_id: user, query: "Berlin", channels: ["lexical"] })).toEqual([]);
    // Vector channel too: the rolled-back text was re-embedded.
    expect(await searchIds(key, { user_id: user, query: "Paris", channels: ["vector"] })).toEqual([id]);
    expect((await events(id)).at(-1)).toMatchObject({ type: "memory.rolled_back", reason: "rolled back to version 1", to: "activated" });

    // The rollback is itself a version: rolling back to 2 brings Berlin back.
    expect((await call("POST", `/v1/memories/${id}/rollback`, { key, body: { version: 2 } })).body.content).toBe("Alice lives in Berlin");
  });

  it("rollback undoes a soft delete and refuses what the lifecycle forbids", async () => {
    const { key, written } = await cube([{ content: "first note" }, { content: "second note", ttl: 3600 }]);
    const [a, b] = written;
    await call("PATCH", `/v1/memories/${a.id}`, { key, body: { content: "first note, edited" } });
    await call("DELETE", `/v1/memories/${a.id}`, { key });
    expect((await call("GET", `/v1/memories/${a.id}`, { key })).status).toBe(404);
    const undone = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: 2 } });
    expect(undone.body).toMatchObject({ state: "activated", content: "first note, edited", version: 4 });
    expect((await call("GET", `/v1/memories/${a.id}`, { key })).status).toBe(200);

    const unknown = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: 99 } });
    expect([unknown.status, errorOf(unknown).code]).toEqual([404, "not_found"]);
    const current = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: 4 } });
    expect([current.status, errorOf(current).code]).toEqual([409, "conflict"]);
    const bad = await call("POST", `/v1/memories/${a.id}/rollback`, { key, body: { version: "1" } });
    expect(bad.status).toBe(400);

    await call("PATCH", `/v1/memories/${b.id}`, { key, body: { frozen: true } });
    const frozen = await call("POST", `/v1/memories/${b.id}/rollback`, { key, body: { version: 1 } });
    expect([frozen.status, errorOf(frozen).code]).toEqual([409, "memory_frozen"]);
    // Frozen memories can still be read (and their history).
    expect((await call("GET", `/v1/memories/${b.id}/history`, { key })).status).toBe(200);
  });

  it("an expired memory cannot be rolled back", async () => {
    const { key, written, stub } = await cube([{ content: "temporary code 1234", ttl: 60 }]);
    const id = written[0].id;
    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET expires_at = ? WHERE id = ?", Date.now() - 1, id);
    });
    const refused = await call("POST", `/v1/memories/${id}/rollback`, { key, body: { version: 1 } });
    expect([refused.status, errorOf(refused).message]).toEqual([409, "a memory in state expired cannot be rolled back"]);
  });

  it("as_of reads a memory, and searches, as they stood at that time", async () => {
    const { key, user, written, setClock } = await cube([{ content: "Bob works at Acme" }]);
    const id = written[0].id;
    const created = Date.parse(written[0].created_at);
    await setClock(2 * 3_600_000);
    await call("PATCH", `/v1/memories/${id}`, { key, body: { content: "Bob works at Globex" } });
    await setClock(4 * 3_600_000);
    await call("DELETE", `/v1/memories/${id}`, { key });

    const at = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    expect((await call("GET", `/v1/memories/${id}?as_of=${at(created + 3_600_000)}`, { key })).body.content).toBe("Bob works at Acme");
    expect((await call("GET", `/v1/memories/${id}?as_of=${at(Date.now() + 3 * 3_600_000)}`, { key })).body.content).toBe(
      "Bob works at Globex",
    );
    // Before it existed, and after it was forgotten: not found then.
    expect((await call("GET", `/v1/memories/${id}?as_of=${at(created - 1000)}`, { key })).status).toBe(404);
    expect((await call("GET", `/v1/memories/${id}?as_of=${at(Date.now() + 5 * 3_600_000)}`, { key })).status).toBe(404);
    expect((await call("GET", `/v1/memories/${id}?as_of=yesterday`, { key })).status).toBe(400);

    // Today the memory is forgotten: plain search misses it, a search as of an hour after creation finds Acme.
    expect(await searchIds(key, { user_id: user, query: "Bob works" })).toEqual([]);
    const past = await call("POST", "/v1/search", {
      key,
      body: { user_id: user, query: "Bob works", as_of: new Date(created + 3_600_000).toISOString() },
    });
    expect(past.body.data.map((hit: any) => [hit.id, hit.content, hit.version])).toEqual([[id, "Bob works at Acme", 1]]);
  });
});

describe("idempotency window", () => {
  it("a key past its 24 h window writes anew, embedded like any write", async () => {
    const { key, user, stub, setClock } = await cube([{ content: "before the retry" }]);
    const body = { user_id: user, memories: [{ content: "Noor booked the piano lessons." }] };
    const headers = { "Idempotency-Key": "late-retry" };
    const first = await call("POST", "/v1/memories", { key, body, headers });
    expect(first.status).toBe(201);
    // Nothing runs in between, so the expired record is still in the table when the retry arrives.
    await setClock(25 * 3_600_000);
    const late = await call("POST", "/v1/memories", { key, body, headers });
    expect(late.status).toBe(201);
    expect(late.headers.get("Idempotent-Replayed")).toBeNull();
    const id = late.body.data[0].id as string;
    expect(id).not.toBe(first.body.data[0].id);
    const vector = await runInDurableObject(stub, (_instance, state) => new VectorStore(state.storage.sql).get(id));
    expect(vector).not.toBeNull();
  });
});

describe("TTL on the alarm", () => {
  it("a TTL arms the alarm; the alarm expires the memory, drops its vector and keeps a stub", async () => {
    const { key, user, written, stub, setClock, events } = await cube([
      { content: "the gate code is 4711", ttl: 120, session_id: "s1" },
      { content: "the parcel arrives on Monday", session_id: "s1" },
    ]);
    const [temp, kept] = written;
    const expiresAt = Date.parse(temp.expires_at);
    // The write armed the alarm for its webhook events first; once they are sent, it waits for the expiry.
    await runInDurableObject(stub, async (_i, state) => {
      expect(await state.storage.getAlarm()).toBeLessThan(expiresAt);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, async (_i, state) => {
      expect(await state.storage.getAlarm()).toBe(expiresAt);
      expect(new VectorStore(state.storage.sql).embedderOf(temp.id)).not.toBeNull();
    });
    await setClock(121_000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (_i, state) => {
      const row = state.storage.sql.exec("SELECT state, content FROM memories WHERE id = ?", temp.id).one();
      expect([row.state, row.content]).toEqual(["expired", ""]);
      expect(new VectorStore(state.storage.sql).embedderOf(temp.id)).toBeNull();
      // The neighbour no longer carries the expired text in its indexed context.
      expect(String(state.storage.sql.exec("SELECT context FROM memories WHERE id = ?", kept.id).one().context)).not.toContain("4711");
    });
    expect(await searchIds(key, { user_id: user, query: "gate code 4711", channels: ["lexical"] })).toEqual([]);
    expect((await events(temp.id)).at(-1)).toMatchObject({ type: "memory.expired", actor: "system", reason: "ttl elapsed" });
    // Nothing else about the TTL is due: the alarm left is the cube's upkeep, once it has been quiet (cube/upkeep.ts).
    await runInDurableObject(stub, async (_i, state) => {
      expect(await state.storage.getAlarm()).toBeGreaterThanOrEqual(Date.parse(temp.created_at) + QUIET_MS);
    });
  });

  it("overdue expiries are picked up after a restart, and frozen memories never expire", async () => {
    const { written, stub } = await cube([
      { content: "overdue", ttl: 3600 },
      { content: "frozen with a ttl", ttl: 3600, frozen: true },
    ]);
    const [overdue, frozen] = written;
    await runInDurableObject(stub, async (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET expires_at = ?", Date.now() - 1000);
      await state.storage.deleteAlarm();
    });
    await evictDurableObject(stub);
    // The constructor re-arms from the earliest due item, overdue ones included.
    await runInDurableObject(stub, async (_i, state) => expect(await state.storage.getAlarm()).not.toBeNull());
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (_i, state) => {
      const states = state.storage.sql.exec("SELECT id, state FROM memories ORDER BY seq").toArray();
      expect(states.map((r) => [r.id, r.state])).toEqual([
        [overdue.id, "expired"],
        [frozen.id, "activated"],
      ]);
    });
  });
});

describe("webhook outbox", () => {
  it("a write arms the alarm, which hands the cube's new events to the webhook queue", async () => {
    const { key, written, stub } = await cube([{ content: "first" }]);
    await call("PATCH", `/v1/memories/${written[0].id}`, { key, body: { content: "second" } });
    const pending = () =>
      runInDurableObject(stub, (_i, state) => {
        const newest = Number(state.storage.sql.exec("SELECT max(seq) AS n FROM events").one().n);
        const sent = Number(state.storage.sql.exec("SELECT last_seq AS n FROM webhook_outbox").one().n);
        return newest - sent;
      });
    expect(await pending()).toBeGreaterThan(0);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await pending()).toBe(0);
  });
});

describe("archive to R2", () => {
  const long = `The blue bicycle stands in the garden shed. ${"It has a basket, a bell and a worn leather saddle. ".repeat(8)}`;

  it("moves cold, unimportant memories to R2 and restores them on a get", async () => {
    const { key, user, ref, cubeId, written, stub, setClock, events } = await cube([
      { content: long, importance: 0.1 },
      { content: "Important: the passport is in the top drawer", importance: 0.9 },
      { content: "pinned but cold", importance: 0.1 },
    ]);
    const [cold, important, pinned] = written;
    await call("POST", `/v1/memories/${pinned.id}/pin`, { key });
    await setClock(31 * DAY);
    const job = await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
    expect(job).toMatchObject({ type: "archive", status: "queued", progress: { total: 1 } });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call("GET", `/v1/jobs/${job.id}`, { key })).body).toMatchObject({ status: "done", progress: { done: 1 } });

    const stats = await call("GET", `/v1/cubes/${cubeId}/stats`, { key });
    expect(stats.body).toMatchObject({ cube_id: cubeId, states: { archived: 1, activated: 2 }, pinned: 1 });
    expect(stats.body.bytes.cold).toBeGreaterThan(long.length);
    const object = await env.ARCHIVE.get(archiveKey(ref, cold.id));
    expect(object).not.toBeNull();
    expect(await object!.json()).toMatchObject({ format: "memos-archive/1", content: long, versions: [{ version: 1 }] });
    await runInDurableObject(stub, (_i, state) => {
      const row = state.storage.sql.exec("SELECT content FROM memories WHERE id = ?", cold.id).one();
      expect(String(row.content).length).toBeLessThanOrEqual(280);
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memory_versions WHERE memory_id = ?", cold.id).one().n).toBe(0);
    });
    const listed = await call("GET", `/v1/memories?user_id=${user}&state=archived`, { key });
    expect(listed.body.data.map((m: any) => m.id)).toEqual([cold.id]);

    const restored = await call("GET", `/v1/memories/${cold.id}`, { key });
    expect(restored.body).toMatchObject({ content: long, state: "activated" });
    expect(await env.ARCHIVE.get(archiveKey(ref, cold.id))).toBeNull();
    expect((await call("GET", `/v1/memories/${cold.id}/history`, { key })).body.data.map((v: any) => v.change)).toEqual(["created"]);
    expect((await events(cold.id)).map((e) => e.type)).toEqual(["memory.created", "memory.archived", "memory.restored"]);
    expect((await call("GET", `/v1/cubes/${cubeId}/stats`, { key })).body).toMatchObject({ states: { archived: 0 }, bytes: { cold: 0 } });
    expect(important.state).toBe("activated");
  });

  it("a search hit on an archived memory restores it; an archived memory that expires loses its R2 object", async () => {
    const { key, user, ref, written, stub, setClock } = await cube([
      { content: long, importance: 0.1 },
      { content: "a cold reminder about the dentist", importance: 0.1, ttl: 40 * 86_400 },
    ]);
    const [bike, dentist] = written;
    await setClock(31 * DAY);
    await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
    await runDurableObjectAlarm(stub);
    expect(await env.ARCHIVE.get(archiveKey(ref, dentist.id))).not.toBeNull();

    // top_k 1: the nearest memories always come back, and a hit restores (so the dentist must not be one here).
    const hits = (await call("POST", "/v1/search", { key, body: { user_id: user, query: "blue bicycle", top_k: 1 } })).body.data;
    expect(hits.map((h: any) => [h.id, h.state, h.content])).toEqual([[bike.id, "activated", long]]);

    await setClock(41 * DAY);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await env.ARCHIVE.get(archiveKey(ref, dentist.id))).toBeNull();
    const expired = await call("GET", `/v1/memories?user_id=${user}&state=expired`, { key });
    expect(expired.body.data.map((m: any) => [m.id, m.content])).toEqual([[dentist.id, ""]]);
  });
});

describe("consolidation", () => {
  it("merges near-duplicates into a survivor that keeps every provenance, and never merges different facts", async () => {
    const { key, user, ref, written, stub, events } = await cube([
      { content: "Alice likes green tea in the morning", source: { message_ids: ["m1"] }, tags: ["drinks"] },
      { content: "Alice likes green tea in the morning.", source: { message_ids: ["m2"] } },
      { content: "alice likes green tea in the morning", source: { message_ids: ["m3"] }, importance: 0.9 },
      { content: "Alice doesn't like green tea in the morning" },
      { content: "Alice is 30 years old" },
      { content: "Alice is 31 years old" },
    ]);
    const [a, b, c, negated, thirty, thirtyOne] = written;
    // The most important one survives (no accesses yet).
    const job = await runInDurableObject(stub, (instance) => instance.startJob(ref, "consolidate"));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call("GET", `/v1/jobs/${job.id}`, { key })).body).toMatchObject({ status: "done" });

    const survivor = (await call("GET", `/v1/memories/${c.id}`, { key })).body;
    expect(survivor.source.merged_from.sort()).toEqual([a.id, b.id].sort());
    expect(survivor.source.message_ids.sort()).toEqual(["m1", "m2", "m3"]);
    expect(survivor.tags).toEqual(["drinks"]);
    for (const merged of [a, b]) {
      const all = await call("GET", `/v1/memories?user_id=${user}&state=merged`, { key });
      expect(all.body.data.find((m: any) => m.id === merged.id)).toMatchObject({ state: "merged", superseded_by: c.id });
      expect((await events(merged.id)).at(-1)).toMatchObject({ type: "memory.merged", reason: `near-duplicate of ${c.id}` });
    }
    const live = (await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key })).body.data.map((m: any) => m.id).sort();
    expect(live).toEqual([c.id, negated.id, thirty.id, thirtyOne.id].sort());
    expect(await searchIds(key, { user_id: user, query: "green tea", channels: ["lexical"] })).not.toContain(a.id);
  });

  it("gives the survivor the sensitivity labels of every memory it absorbs, so a near duplicate of a sensitive memory stays sensitive", async () => {
    const { key, ref, written, stub } = await cube([
      { content: "Bob's passport number is X1234567", sensitivity: ["pii"] },
      { content: "Bob's passport number is X1234567.", sensitivity: ["legal"] },
      // Unlabelled and the most important: the survivor, which must take both labels.
      { content: "bob's passport number is X1234567", importance: 0.9 },
    ]);
    const [labelled, otherLabel, survivor] = written;
    await runInDurableObject(stub, (instance) => instance.startJob(ref, "consolidate"));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const merged = (await call("GET", `/v1/memories/${survivor.id}`, { key })).body;
    expect(merged.source.merged_from.sort()).toEqual([labelled.id, otherLabel.id].sort());
    expect(merged.sensitivity.sort()).toEqual(["legal", "pii"]);
  });
});
