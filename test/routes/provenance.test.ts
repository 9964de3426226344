/**
 * GET /v1/memories/{id}/provenance: the source and the cited messages of its episode, the writer's watermark (and
 * whether it still verifies), and the derivation chain from the cube's events.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const DAY = 86_400_000;

async function tenant() {
  const { key, tenantId, keyId } = await newTenant();
  const user = uniqueUser();
  const stubOf = (cubeId: string) => env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  return { key, keyId, tenantId, user, stubOf };
}

const provenance = (key: string, id: string) => call("GET", `/v1/memories/${id}/provenance`, { key });

describe("provenance of a memory", () => {
  it("names the writer with a watermark that verifies, re-signed by each version that writes content", async () => {
    const { key, keyId, user, stubOf } = await tenant();
    const [memory] = await remember(key, user, [{ content: "Alice is allergic to peanuts.", source: { kind: "user_input", message_ids: ["m1"] } }]);
    expect(memory.watermark).toMatch(new RegExp(`^wm1\\.1\\.${keyId}\\.[A-Za-z0-9_-]{43}$`));

    const first = await provenance(key, memory.id);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      memory_id: memory.id,
      cube_id: memory.cube_id,
      state: "activated",
      version: 1,
      source: { kind: "user_input", episode_id: null, message_ids: ["m1"], key_id: keyId },
      writer: { key_id: keyId, version: 1, watermark: memory.watermark, verified: true },
      imported_from: null,
      episode: null,
      links: { supersedes: null, superseded_by: null, merged_from: [] },
    });
    expect(first.body.derivation.map((s: any) => [s.event, s.version, s.actor])).toEqual([["memory.created", 1, keyId]]);

    const patched = await call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "Alice is allergic to peanuts and tree nuts." } });
    expect(patched.body.watermark).toMatch(/^wm1\.2\./);
    expect(patched.body.watermark).not.toBe(memory.watermark);
    await call("POST", `/v1/memories/${memory.id}/rollback`, { key, body: { version: 1 } });
    const rolled = await provenance(key, memory.id);
    expect(rolled.body.writer).toMatchObject({ version: 3, verified: true });
    expect(rolled.body.derivation.map((s: any) => s.event)).toEqual(["memory.created", "memory.updated", "memory.rolled_back"]);
    expect(rolled.body.derivation[2]).toMatchObject({ rolled_back_to: 1, from: "activated", to: "activated" });
    // Each version's snapshot carries the watermark of that version.
    const history = (await call("GET", `/v1/memories/${memory.id}/history`, { key })).body.data;
    expect(history.map((v: any) => v.memory.watermark.split(".")[1])).toEqual(["1", "2", "3"]);

    // Text changed behind the API's back no longer verifies.
    await runInDurableObject(stubOf(memory.cube_id), (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET content = 'Alice loves peanuts.' WHERE id = ?", memory.id);
    });
    expect((await provenance(key, memory.id)).body.writer).toMatchObject({ key_id: keyId, version: 3, verified: false });
  });

  it("cites the episode's messages a memory was read from, from R2", async () => {
    const { key, user } = await tenant();
    const messages = [
      { role: "system", content: "You are a helpful assistant." },
      { role: "user", name: "Caroline", content: "I went to the support group yesterday.", id: "D1:3", created_at: "2023-05-08T13:56:00Z" },
      { role: "assistant", content: "That sounds meaningful!", id: "D1:4" },
    ];
    const ingested = await call("POST", "/v1/memories", { key, body: { user_id: user, session_id: "s1", messages, infer: false } });
    expect(ingested.status).toBe(200);
    const [first] = ingested.body.data;
    const answer = await provenance(key, first.id);
    expect(answer.body.source).toMatchObject({ kind: "extraction", episode_id: ingested.body.episode_id, message_ids: ["D1:3"], reader: "verbatim" });
    expect(answer.body.episode).toEqual({
      id: ingested.body.episode_id,
      found: true,
      session_id: "s1",
      received_at: expect.any(String),
      messages: [{ id: "D1:3", role: "user", name: "Caroline", content: "I went to the support group yesterday.", created_at: "2023-05-08T13:56:00.000Z" }],
    });
    // An episode id the writer made up names nothing the cube keeps.
    const [own] = await remember(key, user, [{ content: "from elsewhere", source: { episode_id: "chat-42", message_ids: ["x"] } }]);
    expect((await provenance(key, own.id)).body.episode).toEqual({ id: "chat-42", found: false, session_id: null, received_at: null, messages: [] });
  });

  it("shows the derivation chain: superseded by a later fact, merged into a survivor, archived and restored", async () => {
    const { key, user, tenantId, stubOf } = await tenant();
    const say = (content: string, at: string) =>
      call("POST", "/v1/memories", { key, body: { user_id: user, sync: true, messages: [{ role: "user", name: "Alice", content, created_at: at }] } });
    const paris = (await say("I live in Paris.", "2024-01-01T10:00:00Z")).body.data[0];
    const berlin = (await say("I moved to Berlin.", "2024-06-01T10:00:00Z")).body.data[0];
    const older = await provenance(key, paris.id);
    expect(older.body).toMatchObject({ state: "superseded", links: { superseded_by: berlin.id } });
    expect(older.body.derivation.map((s: any) => s.event)).toEqual(["memory.created", "memory.superseded"]);
    expect(older.body.derivation[1]).toMatchObject({ from: "activated", to: "superseded", successor: berlin.id, reason: expect.stringContaining("lives_in") });
    // A superseded memory's content is untouched: its watermark (of version 1; it is at version 2 now) still verifies,
    // and a change to its text behind the API's back does not.
    expect(older.body.writer).toMatchObject({ version: 1, verified: true });
    await runInDurableObject(stubOf(paris.cube_id), (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET content = 'Alice lives in Rome.' WHERE id = ?", paris.id);
    });
    expect((await provenance(key, paris.id)).body.writer.verified).toBe(false);
    const newer = await provenance(key, berlin.id);
    expect(newer.body.links.supersedes).toBe(paris.id);
    expect(newer.body.derivation.find((s: any) => s.event === "memory.supersedes")).toMatchObject({ superseded: paris.id });

    const [a, b] = await remember(key, user, [
      { content: "Alice likes green tea in the morning", importance: 0.9 },
      { content: "alice likes green tea in the morning." },
    ]);
    const ref = { tenantId, cubeId: a.cube_id, owner: `user:${user}` };
    const stub = stubOf(a.cube_id);
    await runInDurableObject(stub, (instance) => instance.startJob(ref, "consolidate"));
    await runDurableObjectAlarm(stub);
    const survivor = await provenance(key, a.id);
    expect(survivor.body.links.merged_from).toEqual([b.id]);
    expect(survivor.body.derivation.at(-1)).toMatchObject({ event: "memory.absorbed", actor: "system", merged: [b.id] });
    expect((await provenance(key, b.id)).body.derivation.at(-1)).toMatchObject({ event: "memory.merged", survivor: a.id, to: "merged" });

    const [cold] = await remember(key, user, [{ content: "The old bicycle is in the shed.", importance: 0.1 }]);
    await runInDurableObject(stub, (instance) => {
      const later = Date.now() + 31 * DAY;
      instance.clock = () => later;
    });
    await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
    await runDurableObjectAlarm(stub);
    // Asking for provenance brings an archived memory back, so its watermark can be checked against its full text.
    const archived = await provenance(key, cold.id);
    expect(archived.body).toMatchObject({ state: "activated", writer: { verified: true } });
    expect(archived.body.derivation.map((s: any) => s.event)).toEqual(["memory.created", "memory.archived", "memory.restored"]);
  });

  it("an expired memory's content is gone: nothing to verify; a purged one has no provenance", async () => {
    const { key, user, stubOf } = await tenant();
    const [temporary, purged] = await remember(key, user, [{ content: "door code 1234", ttl: 60 }, { content: "to be purged" }]);
    await runInDurableObject(stubOf(temporary.cube_id), (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET expires_at = ? WHERE id = ?", Date.now() - 1, temporary.id);
    });
    const expired = await provenance(key, temporary.id);
    expect(expired.body).toMatchObject({ state: "expired", writer: { verified: null } });
    expect(expired.body.derivation.map((s: any) => s.event)).toEqual(["memory.created", "memory.expired"]);

    await call("DELETE", `/v1/memories/${purged.id}?hard=true`, { key });
    const gone = await provenance(key, purged.id);
    expect([gone.status, errorOf(gone).code]).toEqual([404, "not_found"]);
  });

  it("is 404 for unknown ids, malformed ids and other tenants' memories; needs a key", async () => {
    const { key, user } = await tenant();
    const [memory] = await remember(key, user, [{ content: "mine" }]);
    const other = await tenant();
    const foreign = await provenance(other.key, memory.id);
    expect([foreign.status, errorOf(foreign).message]).toEqual([404, "memory not found"]);
    // Same cube, another last character: an id that was never written (whatever the real one ends with).
    const unknown = `${memory.id.slice(0, -1)}${memory.id.endsWith("0") ? "1" : "0"}`;
    expect((await provenance(key, unknown)).status).toBe(404);
    expect((await provenance(key, "not-a-memory")).status).toBe(404);
    expect((await call("GET", `/v1/memories/${memory.id}/provenance`)).status).toBe(401);
  });
});
