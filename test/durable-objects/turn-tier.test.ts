/**
 * The verbatim turn tier (cube/turn-tier.ts, docs/memreader.md): an infer-mode ingest keeps the turns its memories
 * cite searchable as said; a search on a turn's words answers with the memories citing it; the tier is never a
 * memory (list, context, counts) and leaves with the memories it cites (hard forget, expiry, owner deletion).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import type { MemoryReader } from "../../src/core/reader/types";
import { call, newTenant, uniqueUser } from "../helpers";

/** A reader that rewrites each turn it keeps with none of the turn's own content words, and skips the rest. */
const REWRITES: Record<string, string> = {
  "D1:1": "Caroline has a new dog.",
  "D1:3": "Caroline goes hiking every summer.",
  // Says again what D1:1's memory holds: a duplicate, so D1:4 cites that memory.
  "D1:4": "Caroline has a new dog.",
};
const paraphrasing: MemoryReader = {
  id: "test:paraphrasing",
  read: async (messages) =>
    messages.flatMap((m) =>
      REWRITES[m.id] ? [{ content: REWRITES[m.id]!, type: "fact" as const, tags: [], validAt: null, messageIds: [m.id], key: null }] : [],
    ),
};

const conversation = [
  { role: "user", name: "Caroline", id: "D1:1", content: "Guess what, I adopted a beagle puppy named Biscuit!" },
  { role: "user", name: "Melanie", id: "D1:2", content: "Good morning from Zanzibar!" },
  { role: "user", name: "Caroline", id: "D1:3", content: "We hike the Dolomites every August." },
  { role: "user", name: "Caroline", id: "D1:4", content: "Biscuit already chewed my slippers." },
];

/** A cube holding one verbatim memory and the conversation above, read by the paraphrasing reader. */
async function ingested(scopes = ["read", "write"]) {
  const { key, tenantId } = await newTenant(scopes);
  const user = uniqueUser();
  const seed = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "Caroline's calendar is shared." }] } });
  const cubeId = seed.body.cube_id as string;
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  await runInDurableObject(stub, (instance) => {
    (instance as any).memoryReader = paraphrasing;
  });
  const ingest = await call("POST", "/v1/memories", { key, body: { user_id: user, session_id: "s1", messages: conversation, sync: true } });
  expect(ingest.status).toBe(200);
  const [dog, hike] = ingest.body.data as any[];
  expect([dog.content, hike.content, ingest.body.data.length]).toEqual(["Caroline has a new dog.", "Caroline goes hiking every summer.", 2]);
  const search = async (query: string, extra: object = {}) =>
    (await call("POST", "/v1/search", { key, body: { user_id: user, query, channels: ["lexical"], ...extra } })).body.data as any[];
  const tier = () =>
    runInDurableObject(stub, (_i, state) => ({
      turns: state.storage.sql.exec("SELECT message_id FROM turn_tier ORDER BY seq").toArray().map((r) => String(r.message_id)),
      citations: Number(state.storage.sql.exec("SELECT count(*) AS n FROM turn_citations").one().n),
      indexed: Number(state.storage.sql.exec("SELECT count(*) AS n FROM turns_fts").one().n),
    }));
  return { key, user, cubeId, stub, seed: seed.body.data[0], dog, hike, search, tier };
}

describe("the turn tier", () => {
  it("finds a memory by the words of the turn it came from, and the hit is the memory citing that turn", async () => {
    const { dog, hike, search, tier } = await ingested();
    // Neither memory holds these words: only the turns they were extracted from do.
    const beagle = await search("beagle puppy");
    expect(beagle.map((hit) => [hit.id, hit.content, hit.source.message_ids])).toEqual([[dog.id, "Caroline has a new dog.", ["D1:1"]]]);
    expect(beagle[0].channels).toEqual(["lexical"]);
    // A turn's neighbours index its text as context, as a memory's do: the turn itself ranks first.
    expect((await search("Dolomites")).map((hit) => hit.id)).toEqual([hike.id, dog.id]);
    // A turn whose candidate repeated a memory cites that memory.
    expect((await search("slippers")).map((hit) => hit.id)).toEqual([dog.id, hike.id]);
    // A turn no memory came from (D1:2) has no place of its own: a search answers with memories only.
    expect(await tier()).toEqual({ turns: ["D1:1", "D1:3", "D1:4"], citations: 3, indexed: 3 });
  });

  it("is not memories: list and context show the extracted memories only, never a turn's text", async () => {
    const { key, user, seed, dog, hike } = await ingested();
    const listed = (await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key })).body.data as any[];
    expect(listed.map((m) => m.id).sort()).toEqual([seed.id, dog.id, hike.id].sort());
    const context = await call("POST", "/v1/context", { key, body: { user_id: user, query: "Biscuit the beagle" } });
    expect(context.status).toBe(200);
    expect(context.body.dynamic.text).toContain("Caroline has a new dog.");
    expect(context.body.dynamic.text).not.toMatch(/beagle|Biscuit|Dolomites/);
  });

  it("answers under the request's filters: types, as_of, and only memories in the states asked for", async () => {
    const { key, dog, search } = await ingested();
    expect(await search("beagle", { filters: { type: "preference" } })).toEqual([]);
    expect(await search("beagle", { as_of: new Date(Date.parse(dog.created_at) - 60_000).toISOString() })).toEqual([]);
    await call("DELETE", `/v1/memories/${dog.id}`, { key });
    expect(await search("beagle")).toEqual([]);
    // A soft forget keeps the turn: rolling the memory back makes it findable by the turn's words again.
    expect((await call("POST", `/v1/memories/${dog.id}/rollback`, { key, body: { version: 1 } })).status).toBe(200);
    expect((await search("beagle")).map((hit) => hit.id)).toEqual([dog.id]);
  });

  it("leaves with the memories it cites: a hard forget and an expiry take their turns and the turns' neighbours along", async () => {
    const { key, stub, dog, hike, search, tier } = await ingested();
    expect((await call("DELETE", `/v1/memories/${hike.id}?hard=true`, { key })).status).toBe(200);
    // D1:4 goes too: its context held D1:3's words. D1:1 is no neighbour of D1:3 (D1:2 is between them).
    expect(await search("Dolomites hike August")).toEqual([]);
    expect(await tier()).toEqual({ turns: ["D1:1"], citations: 1, indexed: 1 });
    expect((await search("beagle")).map((hit) => hit.id)).toEqual([dog.id]);

    await runInDurableObject(stub, (_i, state) => {
      state.storage.sql.exec("UPDATE memories SET expires_at = ? WHERE id = ?", Date.now() - 1, dog.id);
    });
    while (await runDurableObjectAlarm(stub)) {
      const row = await runInDurableObject(stub, (_i, state) => state.storage.sql.exec("SELECT state FROM memories WHERE id = ?", dog.id).one());
      if (row.state === "expired") break;
    }
    expect(await search("beagle slippers")).toEqual([]);
    expect(await tier()).toEqual({ turns: [], citations: 0, indexed: 0 });
  });

  it("goes with its owner: deleting the owner leaves no turn behind", async () => {
    const { key, user, stub, tier } = await ingested(["read", "write", "admin"]);
    expect((await tier()).turns).toHaveLength(3);
    expect((await call("DELETE", `/v1/owners/user:${user}`, { key })).status).toBe(200);
    const left = await runInDurableObject(stub, (_i, state) =>
      state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name IN ('turn_tier', 'turn_citations', 'turns_fts')").toArray().length === 0
        ? 0
        : Number(state.storage.sql.exec("SELECT (SELECT count(*) FROM turn_tier) + (SELECT count(*) FROM turn_citations) AS n").one().n),
    );
    expect(left).toBe(0);
  });
});
