/**
 * Concurrency on one cube (issue 16, item 6): parallel writes, PATCHes, idempotent retries and pins all land on one
 * Durable Object; nothing acknowledged is lost, nothing is written twice, versions stay contiguous.
 */
import { describe, expect, it } from "vitest";
import { type ApiResponse, call, newTenant, remember, uniqueUser } from "../helpers";

const { key } = await newTenant();

/** Every live memory of `user`, following cursors. */
async function everything(user: string) {
  const all: { id: string; content: string; pinned: boolean }[] = [];
  let cursor: string | null = null;
  do {
    const page: ApiResponse<{ data: typeof all; next_cursor: string | null }> = await call("GET", `/v1/memories?user_id=${user}&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`, { key });
    expect(page.status).toBe(200);
    all.push(...page.body.data);
    cursor = page.body.next_cursor;
  } while (cursor);
  return all;
}

describe("one cube under concurrent load", { timeout: 120_000 }, () => {
  it("150 parallel writes: every acknowledged memory is stored once, none lost", async () => {
    const user = uniqueUser();
    const responses = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: `parallel write number ${i}`, tags: [`w${i % 7}`] }] } }),
      ),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 201)).toEqual([]);
    const acknowledged = responses.map((r) => r.body.data[0].id as string);
    expect(new Set(acknowledged).size).toBe(150);
    const stored = await everything(user);
    expect(stored.map((m) => m.id).sort()).toEqual([...acknowledged].sort());
    expect(new Set(stored.map((m) => m.content)).size).toBe(150);
  });

  it("100 parallel PATCHes of one memory: each 200 is one version, versions contiguous, the last one is what reads back", async () => {
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "version one" }]);
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: `version by patch ${i}`, importance: (i % 10) / 10 } })),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const versions = responses.map((r) => r.body.version as number).sort((a, b) => a - b);
    expect(versions).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
    const history = await call("GET", `/v1/memories/${memory.id}/history`, { key });
    expect(history.body.data.map((v: { version: number }) => v.version)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    const last = responses.find((r) => r.body.version === 101)!;
    const read = await call("GET", `/v1/memories/${memory.id}`, { key });
    expect(read.body.content).toBe(last.body.content);
    expect(read.body.version).toBe(101);
  });

  it("30 concurrent retries with one Idempotency-Key write once; every success names the same memories", async () => {
    const user = uniqueUser();
    const body = { user_id: user, memories: [{ content: "written once" }, { content: "also written once" }] };
    const responses = await Promise.all(
      Array.from({ length: 30 }, () => call("POST", "/v1/memories", { key, body, headers: { "Idempotency-Key": `retry-${user}` } })),
    );
    // A retry that overtakes the first may be told to come back (409); none may fail otherwise or write again.
    expect(responses.map((r) => r.status).filter((s) => s !== 201 && s !== 409)).toEqual([]);
    const successes = responses.filter((r) => r.status === 201);
    expect(successes.length).toBeGreaterThan(0);
    const ids = successes.map((r) => r.body.data.map((m: { id: string }) => m.id).join(","));
    expect(new Set(ids).size).toBe(1);
    expect((await everything(user)).map((m) => m.id).sort()).toEqual(successes[0]!.body.data.map((m: { id: string }) => m.id).sort());
  });

  it("parallel PATCHes racing one Idempotency-Key make one version", async () => {
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "before the retries" }]);
    const responses = await Promise.all(
      Array.from({ length: 20 }, () =>
        call("PATCH", `/v1/memories/${memory.id}`, { key, body: { content: "after the retries" }, headers: { "Idempotency-Key": `patch-${user}` } }),
      ),
    );
    expect(responses.map((r) => r.status).filter((s) => s !== 200 && s !== 409)).toEqual([]);
    const history = await call("GET", `/v1/memories/${memory.id}/history`, { key });
    expect(history.body.data.map((v: { version: number }) => v.version)).toEqual([1, 2]);
  });

  it("pins and unpins in parallel on different memories: each answer is the final state, the cube's pins match", async () => {
    const user = uniqueUser();
    const memories = await remember(key, user, Array.from({ length: 40 }, (_, i) => ({ content: `pin candidate ${i}` })));
    const pinned = new Set(memories.filter((_, i) => i % 2 === 0).map((m) => m.id));
    // Pin every one, then in parallel unpin the odd ones while the even ones are pinned again.
    const first = await Promise.all(memories.map((m) => call("POST", `/v1/memories/${m.id}/pin`, { key })));
    expect(first.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const second = await Promise.all(memories.map((m) => call(pinned.has(m.id) ? "POST" : "DELETE", `/v1/memories/${m.id}/pin`, { key })));
    expect(second.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    const stored = await everything(user);
    expect(stored.filter((m) => m.pinned).map((m) => m.id).sort()).toEqual([...pinned].sort());
    const working = await call("GET", `/v1/cubes/${memories[0].cube_id}/working-memory`, { key });
    expect(working.status).toBe(200);
  });

  it("writes, PATCHes and forgets interleaved: what was acknowledged is what is there", async () => {
    const user = uniqueUser();
    const seed = await remember(key, user, Array.from({ length: 20 }, (_, i) => ({ content: `seed ${i}` })));
    const forgotten = seed.slice(0, 10).map((m) => m.id);
    const patched = seed.slice(10).map((m) => m.id);
    const responses = await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: `mixed write ${i}` }] } })),
      ...forgotten.map((id) => call("DELETE", `/v1/memories/${id}`, { key })),
      ...patched.map((id) => call("PATCH", `/v1/memories/${id}`, { key, body: { content: `patched ${id}` } })),
    ]);
    expect(responses.map((r) => r.status).filter((s) => s >= 300)).toEqual([]);
    const stored = await everything(user);
    const written = responses.slice(0, 50).map((r) => r.body.data[0].id as string);
    expect(stored.map((m) => m.id).sort()).toEqual([...written, ...patched].sort());
    for (const id of patched) expect(stored.find((m) => m.id === id)?.content).toBe(`patched ${id}`);
  });
});
