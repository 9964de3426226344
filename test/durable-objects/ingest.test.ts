/**
 * MemReader's pipeline: episodes, jobs, windows, resumption after eviction, idempotent re-ingest, the conflict
 * policy (append and supersede, never destroy) and failures that stay visible.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { episodeKey } from "../../durable-objects/cube/r2-keys";
import { type Candidate, CubeIngest, type StoredEpisode } from "../../durable-objects/cube/ingest";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { CubeStore } from "../../durable-objects/cube/store";
import { VectorStore } from "../../durable-objects/cube/vector-store";
import { cubeObjectName } from "../../src/core/ids";
import type { MemoryReader } from "../../src/core/reader/types";
import { call, errorOf, newTenant, uniqueUser } from "../helpers";

async function tenant() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const stubOf = (cubeId: string) => env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  return { key, tenantId, user, stubOf };
}

const conversation = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", name: "Caroline", content: "I went to the LGBTQ support group yesterday.", id: "D1:3", created_at: "2023-05-08T13:56:00Z" },
  { role: "assistant", content: "That sounds meaningful! How was it?", id: "D1:4", created_at: "2023-05-08T13:57:00Z" },
];

describe("ingesting a conversation", () => {
  it("infer: false keeps each user/assistant message verbatim, citing its episode and message id; the episode is in R2", async () => {
    const { key, tenantId, user } = await tenant();
    const response = await call("POST", "/v1/memories", { key, body: { user_id: user, messages: conversation, infer: false } });
    expect(response.status).toBe(200);
    const { cube_id: cubeId, episode_id: episodeId, job, data } = response.body;
    expect(episodeId).toMatch(/^ep_[0-9a-f]{32}$/);
    expect(job).toMatchObject({ type: "ingest", status: "done", progress: { done: 3, total: 3 }, result: { episode_id: episodeId } });
    expect(data.map((m: any) => [m.content, m.type, m.source.message_ids, m.source.episode_id, m.source.kind])).toEqual([
      ["I went to the LGBTQ support group yesterday.", "message", ["D1:3"], episodeId, "extraction"],
      ["That sounds meaningful! How was it?", "message", ["D1:4"], episodeId, "extraction"],
    ]);
    expect(job.result.memory_ids).toEqual(data.map((m: any) => m.id));
    expect(data[0].valid_at).toBe("2023-05-08T13:56:00.000Z");
    const stored = await env.ARCHIVE.get(episodeKey({ tenantId, cubeId, owner: `user:${user}` }, episodeId));
    const episode = (await stored!.json()) as StoredEpisode;
    expect(episode.messages.map((m) => [m.id, m.role, m.name])).toEqual([
      ["m0", "system", null],
      ["D1:3", "user", "Caroline"],
      ["D1:4", "assistant", null],
    ]);
    expect(episode.owner_name).toBe("Caroline");
  });

  it("sending the same conversation again is a no-op: the same episode and job, nothing written", async () => {
    const { key, user } = await tenant();
    const body = { user_id: user, messages: conversation, infer: false };
    const first = await call("POST", "/v1/memories", { key, body });
    const again = await call("POST", "/v1/memories", { key, body });
    expect(again.status).toBe(200);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect([again.body.job_id, again.body.episode_id]).toEqual([first.body.job_id, first.body.episode_id]);
    const listed = await call("GET", `/v1/memories?user_id=${user}`, { key });
    expect(listed.body.data).toHaveLength(2);
    // Different options make a different episode.
    const other = await call("POST", "/v1/memories", { key, body: { ...body, session_id: "s2" } });
    expect(other.body.episode_id).not.toBe(first.body.episode_id);
  });

  it("answers 202 and reads window by window on the alarm; an eviction mid-job resumes where it was", async () => {
    const { key, user, stubOf } = await tenant();
    const messages = Array.from({ length: 90 }, (_, i) => ({
      role: "user",
      content: `Number ${i} of the garden notes: the tomato bed ${i} needs water on day ${i}.`,
      id: `g${i}`,
    }));
    const queued = await call("POST", "/v1/memories", { key, body: { user_id: user, messages } });
    expect(queued.status).toBe(202);
    expect(queued.body).toMatchObject({ status: "queued", data: [], job: { progress: { done: 0, total: 90 } } });
    const stub = stubOf(queued.body.cube_id);
    const job = () => call("GET", `/v1/jobs/${queued.body.job_id}`, { key }).then((r) => r.body);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await job()).toMatchObject({ status: "running", progress: { done: 40 } });
    await evictDurableObject(stub);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await job()).toMatchObject({ status: "running", progress: { done: 80 } });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const done = await job();
    expect(done).toMatchObject({ status: "done", progress: { done: 90, total: 90 }, attempts: 0 });
    // Every message was read exactly once: each memory cites messages no other memory cites.
    const memories = (await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key })).body.data;
    expect(memories.map((m: any) => m.id).sort()).toEqual([...done.result.memory_ids].sort());
    const cited = memories.flatMap((m: any) => m.source.message_ids);
    expect(new Set(cited).size).toBe(cited.length);
    expect(cited.length).toBe(90);
  });

  it("a reader failure stays visible: permanent errors fail the job with their reason, others retry with backoff", async () => {
    const { key, user, stubOf } = await tenant();
    const first = await call("POST", "/v1/memories", { key, body: { user_id: user, messages: [{ role: "user", content: "seed" }], infer: false } });
    const stub = stubOf(first.body.cube_id);
    let calls = 0;
    const flaky: MemoryReader = {
      id: "test:flaky",
      read: async (messages) => {
        calls += 1;
        if (calls === 1) throw Object.assign(new Error("model overloaded (429)"), { retryable: true });
        return messages.map((m) => ({ content: `Fact from ${m.id}`, type: "fact" as const, tags: [], validAt: null, messageIds: [m.id], key: null }));
      },
    };
    const broken: MemoryReader = {
      id: "test:broken",
      read: async () => {
        throw Object.assign(new Error("model output failed validation 3 times: memories.0.type invalid"), { retryable: false });
      },
    };
    await runInDurableObject(stub, (instance) => {
      (instance as any).memoryReader = broken;
    });
    const failed = await call("POST", "/v1/memories", { key, body: { user_id: user, messages: [{ role: "user", content: "I like tea" }], sync: true } });
    expect(failed.status).toBe(200);
    expect(failed.body.job).toMatchObject({ status: "failed", error: "model output failed validation 3 times: memories.0.type invalid" });
    expect(failed.body.data).toEqual([]);

    await runInDurableObject(stub, (instance) => {
      (instance as any).memoryReader = flaky;
    });
    const retried = await call("POST", "/v1/memories", { key, body: { user_id: user, messages: [{ role: "user", content: "I like coffee" }], sync: true } });
    expect(retried.status).toBe(202);
    expect(retried.body.job).toMatchObject({ status: "running", attempts: 1, error: "model overloaded (429)" });
    // The retry is due after its backoff (2 s): move the cube's clock past it, then let the alarm run.
    await runInDurableObject(stub, (instance) => {
      const later = Date.now() + 3_000;
      instance.clock = () => later;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const job = (await call("GET", `/v1/jobs/${retried.body.job_id}`, { key })).body;
    expect(job).toMatchObject({ status: "done", attempts: 0, error: null });
    expect(job.result.memory_ids).toHaveLength(1);
  });

  it("rejects bad conversations with 400 and writes nothing", async () => {
    const { key, user } = await tenant();
    const bad = [
      { user_id: user, messages: [] },
      { user_id: user, messages: [{ role: "robot", content: "x" }] },
      { user_id: user, messages: [{ role: "user", content: "  " }] },
      { user_id: user, messages: [{ role: "user", content: "a", id: "x" }, { role: "user", content: "b", id: "x" }] },
      { user_id: user, messages: [{ role: "user", content: "a", created_at: "yesterday" }] },
      { user_id: user, messages: [{ role: "user", content: "a" }], memories: [{ content: "b" }] },
      { user_id: user, memories: [{ content: "b" }], infer: true },
      { user_id: user, messages: [{ role: "user", content: "a", extra: 1 }] },
    ];
    for (const body of bad) {
      const response = await call("POST", "/v1/memories", { key, body });
      expect([response.status, errorOf(response).code]).toEqual([400, "invalid_request"]);
    }
    expect((await call("GET", `/v1/memories?user_id=${user}`, { key })).body.data).toEqual([]);
  });
});

describe("conflict policy: append and supersede, never destroy", () => {
  const DAY = 86_400_000;
  const t0 = Date.UTC(2026, 0, 1);

  it("a newer fact about the same subject supersedes the older; older news never turns back the clock; exact duplicates are no-ops", async () => {
    const { key, tenantId, user } = await tenant();
    const seed = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "seed" }] } });
    const cubeId = seed.body.cube_id;
    const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    const episode = (id: string, at: number): StoredEpisode => ({
      format: "memos-episode/1",
      id,
      cube_id: cubeId,
      owner: ref.owner,
      owner_name: "Alice",
      session_id: null,
      metadata: {},
      infer: true,
      received_at: at,
      messages: [{ id: "m0", role: "user", name: "Alice", content: "…", createdAt: at }],
    });
    const fact = (content: string): Candidate => ({ content, type: "fact", tags: [], validAt: null, messageIds: ["m0"], key: "alice|lives_in" });
    const meta = { actor: "key_test", requestId: "req_test" };

    const result = await runInDurableObject(stub, (_i, state) => {
      const store = new CubeStore(state.storage.sql);
      const ingest = new CubeIngest(store, new VectorStore(state.storage.sql));
      const apply = (ep: StoredEpisode, c: Candidate) =>
        state.storage.transactionSync(() => ingest.apply(ref, ep, "test", [c], meta, Date.now()));
      const paris = apply(episode("ep_1", t0), fact("Alice lives in Paris"));
      const berlin = apply(episode("ep_2", t0 + 30 * DAY), fact("Alice lives in Berlin"));
      const rome = apply(episode("ep_3", t0 - 30 * DAY), fact("Alice lives in Rome"));
      const again = apply(episode("ep_4", t0 + 31 * DAY), fact("alice lives in berlin."));
      const find = (id: string) => store.find(ref, id)!;
      const events = (id: string) => store.events(id).map((e) => [e.type, e.data.reason]);
      const [p, b, r] = [paris.written[0]!, berlin.written[0]!, rome.written[0]!].map((m) => find(m.id));
      return { p, b, r, again, berlinOutcome: berlin, romeOutcome: rome, events: { p: events(p!.id), b: events(b!.id), r: events(r!.id) } };
    });
    const { p, b, r } = result;
    expect([p!.state, p!.superseded_by, p!.invalid_at]).toEqual(["superseded", b!.id, new Date(t0 + 30 * DAY).toISOString()]);
    expect([b!.state, b!.supersedes]).toEqual(["activated", p!.id]);
    expect(result.berlinOutcome.superseded).toEqual([p!.id]);
    // Rome was true before Paris: it arrives already superseded by the current fact, which stays current.
    expect([r!.state, r!.superseded_by]).toEqual(["superseded", b!.id]);
    expect(result.romeOutcome.superseded).toEqual([r!.id]);
    expect(result.again).toMatchObject({ written: [null], duplicates: [b!.id], superseded: [] });
    expect(result.events.p).toEqual([
      ["memory.created", undefined],
      ["memory.superseded", `same subject (alice|lives_in), observed later in ${b!.id}`],
    ]);
    expect(result.events.b).toEqual([
      ["memory.created", undefined],
      ["memory.supersedes", "same subject (alice|lives_in)"],
      ["memory.supersedes", "same subject (alice|lives_in)"],
      ["memory.duplicate_ignored", "an extracted memory repeated it exactly"],
    ]);
    // Nothing was destroyed: the superseded memory and its history are still there, out of search only.
    const history = await call("GET", `/v1/memories/${p!.id}/history`, { key });
    expect(history.body.data.map((v: any) => v.change)).toEqual(["created", "superseded"]);
    // Search returns the nearest memories whatever their strength: the current fact first, the superseded never.
    const hits = await call("POST", "/v1/search", { key, body: { user_id: user, query: "Alice lives" } });
    const ids = hits.body.data.map((h: any) => h.id);
    expect(ids[0]).toBe(b!.id);
    expect(ids).not.toContain(p!.id);
    expect(ids).not.toContain(r!.id);
  });
});

describe("deletion while a job waits on the model", () => {
  it("writes nothing of the deleted episode when the step resumes", async () => {
    const { key, tenantId } = await newTenant(["admin"]);
    const user = uniqueUser();
    const seed = await call("POST", "/v1/memories", { key, body: { user_id: user, messages: [{ role: "user", content: "seed" }], infer: false } });
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, seed.body.cube_id));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let reading = false;
    const slow: MemoryReader = {
      id: "test:slow",
      read: async (messages) => {
        reading = true;
        await gate;
        return messages.map((m) => ({ content: `Secret from ${m.id}`, type: "fact" as const, tags: [], validAt: null, messageIds: [m.id], key: null }));
      },
    };
    await runInDurableObject(stub, (instance) => {
      (instance as any).memoryReader = slow;
    });
    expect((await call("POST", "/v1/memories", { key, body: { user_id: user, messages: [{ role: "user", content: "my PIN is 4711" }] } })).status).toBe(202);
    const alarm = runDurableObjectAlarm(stub);
    for (let i = 0; i < 100 && !reading; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(reading).toBe(true);
    expect((await call("DELETE", `/v1/owners/user:${user}`, { key })).status).toBe(200);
    release();
    await alarm;
    await runInDurableObject(stub, (_instance, state) => {
      expect(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n).toBe(0);
    });
  });
});
