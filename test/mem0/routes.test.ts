/** The mem0 facade over raw HTTP: bad input, paging, frozen memories, events — what the client test does not reach. */
import { describe, expect, it } from "vitest";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

/** A facade call with mem0's `Token` header. */
const mem0 = (key: string, method: string, path: string, body?: unknown, raw?: string) =>
  call(method, `/mem0${path}`, { headers: { Authorization: `Token ${key}` }, ...(body === undefined ? {} : { body }), ...(raw === undefined ? {} : { raw }) });

const addVerbatim = (key: string, userId: string, content: string) =>
  mem0(key, "POST", "/v3/memories/add/", { user_id: userId, messages: content, infer: false, async_mode: false });

describe("mem0 facade over HTTP", () => {
  it("answers bad input with 400s in the one error shape, and writes nothing", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    const cases: [string, string, unknown, string?][] = [
      ["POST", "/v3/memories/add/", undefined, "{not json"],
      ["POST", "/v3/memories/add/", { user_id: userId, messages: [] }],
      ["POST", "/v3/memories/add/", { user_id: userId, messages: [{ role: "user", content: { type: "image_url", image_url: { url: "x" } } }] }],
      ["POST", "/v3/memories/add/", { user_id: userId, messages: "hi", metadata: { mem0_app_id: "sneaky" } }],
      ["POST", "/v3/memories/add/", { user_id: userId, messages: "hi", expiration_date: "2030-01-01" }],
      ["POST", "/v3/memories/search/", { query: "x", filters: "user_id=alice" }],
      ["POST", "/v3/memories/search/", { query: "x", filters: { user_id: userId }, top_k: 0 }],
      ["POST", "/v3/memories/search/", { query: "x", filters: { user_id: userId, created_at: { gte: "last week" } } }],
      ["POST", "/v3/memories/?page=0", { filters: { user_id: userId } }],
      ["POST", "/v3/memories/", { filters: { user_id: userId, metadata: { n: { gt: true } } } }],
      ["DELETE", "/v1/memories/?run_id=r1", undefined],
    ];
    for (const [method, path, body, raw] of cases) {
      const response = await mem0(key, method, path, body, raw);
      expect(response.status, `${method} ${path} ${raw ?? JSON.stringify(body)}`).toBe(400);
      expect(errorOf(response).code).toBe("invalid_request");
    }
    const listed = await mem0(key, "POST", "/v3/memories/", { filters: { user_id: userId } });
    expect(listed.body.count).toBe(0);
  });

  it("pages by number with next and previous links, and counts every match", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    for (const content of ["first note", "second note", "third note"]) expect((await addVerbatim(key, userId, content)).status).toBe(200);

    const first = await mem0(key, "POST", "/v3/memories/?page=1&page_size=2", { filters: { user_id: userId } });
    expect(first.status).toBe(200);
    expect(first.body.count).toBe(3);
    expect(first.body.results.map((m: { memory: string }) => m.memory)).toEqual(["third note", "second note"]);
    expect(first.body.previous).toBeNull();
    const next = new URL(first.body.next);
    expect(next.pathname).toBe("/mem0/v3/memories/");
    expect(next.searchParams.get("page")).toBe("2");

    const second = await mem0(key, "POST", `/v3/memories/${next.search}`, { filters: { user_id: userId } });
    expect(second.body.results.map((m: { memory: string }) => m.memory)).toEqual(["first note"]);
    expect(second.body.next).toBeNull();
    expect(new URL(second.body.previous).searchParams.get("page")).toBe("1");
  });

  it("keeps immutable (frozen) memories through delete and delete-all, and says so", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    const [frozen] = await remember(key, userId, [{ content: "The account number is 12-34.", frozen: true }]);
    await addVerbatim(key, userId, "A note that may go.");

    const refused = await mem0(key, "DELETE", `/v1/memories/${frozen.id}/`);
    expect(refused.status).toBe(409);
    expect(errorOf(refused).code).toBe("memory_frozen");

    const all = await mem0(key, "DELETE", `/v1/memories/?user_id=${userId}`);
    expect(all.status).toBe(200);
    expect(all.body.message).toBe("1 memories deleted; 1 immutable memories kept");
    const left = await mem0(key, "POST", "/v3/memories/", { filters: { user_id: userId } });
    expect(left.body.results).toMatchObject([{ id: frozen.id, immutable: true }]);
  });

  it("updates keep the memory's agent and app; an expiration date sets the expiry", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    await mem0(key, "POST", "/v3/memories/add/", {
      user_id: userId,
      agent_id: "coach",
      app_id: "ios",
      messages: "I run 10 km on Sundays.",
      infer: false,
      async_mode: false,
      metadata: { source: "chat" },
    });
    const [memory] = (await mem0(key, "POST", "/v3/memories/", { filters: { user_id: userId } })).body.results;
    const updated = await mem0(key, "PUT", `/v1/memories/${memory.id}/`, { metadata: { source: "form" }, expiration_date: "2099-01-31" });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ agent_id: "coach", app_id: "ios", metadata: { source: "form" }, expiration_date: "2099-01-31" });
    expect((await mem0(key, "PUT", `/v1/memories/${memory.id}/`, {})).status).toBe(400);
    // The REST view shows where the mem0 ids went.
    const rest = await call("GET", `/v1/memories/${memory.id}`, { key });
    expect(rest.body).toMatchObject({ session_id: null, metadata: { source: "form", mem0_agent_id: "coach", mem0_app_id: "ios" } });
  });

  it("search answers the first natural question after an add, sharing no word with it (issue 12)", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    expect((await addVerbatim(key, userId, "I moved to Lisbon in 2024 and I love surfing.")).status).toBe(200);
    const found = await mem0(key, "POST", "/v3/memories/search/", { query: "Where does Erin live?", filters: { user_id: userId } });
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.results.map((m: { memory: string }) => m.memory)).toEqual(["I moved to Lisbon in 2024 and I love surfing."]);
    const score = found.body.results[0].score as number;
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThanOrEqual(1);
    // threshold is how a caller asks for fewer.
    const strict = await mem0(key, "POST", "/v3/memories/search/", { query: "Where does Erin live?", filters: { user_id: userId }, threshold: Math.min(1, score + 0.01) });
    expect(strict.body.results).toEqual([]);
  });

  it("search passes on the best results' neighbours in their run, in mem0's words, unless neighbours: false", async () => {
    const { key } = await newTenant();
    const userId = uniqueUser();
    const messages = [
      { role: "user", content: "What do you do to unwind after work?" },
      { role: "assistant", content: "Pottery, mostly. Clay calms me down." },
      { role: "user", content: "The weather was lovely all week." },
    ];
    const added = await mem0(key, "POST", "/v3/memories/add/", { user_id: userId, run_id: "chat-1", messages, infer: false, async_mode: false });
    expect(added.status, JSON.stringify(added.body)).toBe(200);
    const found = await mem0(key, "POST", "/v3/memories/search/", { query: "unwind", filters: { user_id: userId }, top_k: 1 });
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    const [hit] = found.body.results;
    expect(hit.memory).toBe(messages[0]!.content);
    expect(hit.neighbours).toEqual([{ id: expect.stringMatching(/^mem_/), memory: messages[1]!.content, position: "after" }]);
    const rest = await call("GET", `/v1/memories/${hit.neighbours[0].id}`, { key });
    expect(rest.body).toMatchObject({ content: messages[1]!.content, session_id: "chat-1" });

    const without = await mem0(key, "POST", "/v3/memories/search/", { query: "unwind", filters: { user_id: userId }, top_k: 1, neighbours: false });
    expect(without.status).toBe(200);
    expect(without.body.results[0]).not.toHaveProperty("neighbours");
  });

  it("serves only add events: another job or an unknown id is 404", async () => {
    const { key } = await newTenant(["read", "write", "admin"]);
    const userId = uniqueUser();
    const added = await addVerbatim(key, userId, "Something to index.");
    const event = await mem0(key, "GET", `/v1/event/${added.body.event_id}/`);
    expect(event.body).toMatchObject({ id: added.body.event_id, event_type: "ADD", status: "SUCCEEDED", results: [{ event: "ADD" }] });

    const cube = (await call("GET", `/v1/memories/${event.body.results[0].id}`, { key })).body.cube_id;
    const job = await call("POST", `/v1/cubes/${cube}/reindex`, { key });
    expect(job.status).toBe(202);
    expect((await mem0(key, "GET", `/v1/event/${job.body.job_id}/`)).status).toBe(404);
    expect((await mem0(key, "GET", "/v1/event/not-a-job/")).status).toBe(404);
  });

  it("takes Bearer too, and refuses a missing key with 401", async () => {
    const { key } = await newTenant();
    expect((await call("GET", "/mem0/v1/ping/", { key })).body).toMatchObject({ status: "ok" });
    const anonymous = await call("GET", "/mem0/v1/ping/");
    expect(anonymous.status).toBe(401);
    expect(errorOf(anonymous).code).toBe("unauthorized");
  });
});
