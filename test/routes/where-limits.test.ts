/**
 * Issue 16, D1: every `where` the schema accepts must run, whatever its size. D1 and Durable Object SQLite bind at most
 * 100 parameters per statement; these filters sit at the documented maxima (100 list values, 50 conditions).
 */
import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";
import { WHERE_LIMITS } from "../../src/core/where";

const { key } = await newTenant();

const others = (n: number) => Array.from({ length: n }, (_, i) => `other-${i}`);
const listOf = (value: string) => [...others(WHERE_LIMITS.listValues - 1), value];
/** 50 ANDed `contains`, on 50 different keys (each its own path), all true of the marked memory. */
const containsAll = (marker: string) => ({
  and: Array.from({ length: WHERE_LIMITS.conditions }, (_, i) => ({ field: `metadata.k${i}`, op: "contains", value: marker })),
});
const metadataFor = (marker: string) => Object.fromEntries(Array.from({ length: WHERE_LIMITS.conditions }, (_, i) => [`k${i}`, `x${marker}y`]));

async function seed(user: string, marker: string) {
  const [hit] = await remember(key, user, [
    { content: `the ${marker} memory about gardening`, tags: [marker], metadata: { ...metadataFor(marker), app: marker } },
    { content: "another memory about gardening", tags: ["plain"], metadata: { app: "plain" } },
  ]);
  return hit as { id: string; cube_id: string };
}

describe("where filters at their documented maxima run (no 'too many SQL variables')", { timeout: 30_000 }, () => {
  const marker = "needle";
  const filters = (m: string) => [
    ["in, 100 metadata values", { field: "metadata.app", op: "in", value: listOf(m) }],
    ["nin, 100 metadata values", { not: { field: "metadata.app", op: "nin", value: listOf(m) } }],
    ["in, 100 tags", { field: "tags", op: "in", value: listOf(m) }],
    ["50 ANDed metadata contains", containsAll(m)],
    ["50 ORed metadata eq", { or: [...others(49).map((v) => ({ field: "metadata.app", op: "eq", value: v })), { field: "metadata.app", op: "eq", value: m }] }],
  ] as const;

  it.each(filters(marker))("search by user: %s", async (_name, where) => {
    const user = uniqueUser();
    const hit = await seed(user, marker);
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "gardening", where } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((m: { id: string }) => m.id)).toEqual([hit.id]);
  });

  it.each(filters(marker))("search with as_of: %s", async (_name, where) => {
    const user = uniqueUser();
    const hit = await seed(user, marker);
    const as_of = new Date(Date.now() + 1000).toISOString();
    const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "gardening", where, as_of } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((m: { id: string }) => m.id)).toEqual([hit.id]);
  });

  it.each(filters(marker))("search across cube_ids: %s", async (_name, where) => {
    const a = await seed(uniqueUser(), marker);
    const b = await seed(uniqueUser(), marker);
    const response = await call("POST", "/v1/search", { key, body: { cube_ids: [a.cube_id, b.cube_id], query: "gardening", where } });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((m: { id: string }) => m.id).sort()).toEqual([a.id, b.id].sort());
  });

  it("list through the mem0 facade: 100 values and 50 conditions", async () => {
    const user = uniqueUser();
    const hit = await seed(user, marker);
    const mem0 = (filters: object) =>
      call("POST", "/mem0/v3/memories/", { headers: { Authorization: `Token ${key}` }, body: { filters: { user_id: user, ...filters } } });
    const byList = await mem0({ metadata: { app: { in: listOf(marker) } } });
    expect(byList.status, JSON.stringify(byList.body)).toBe(200);
    expect(byList.body.results.map((m: { id: string }) => m.id)).toEqual([hit.id]);
    const byContains = await mem0({ AND: Array.from({ length: 49 }, (_, i) => ({ metadata: { [`k${i}`]: { contains: marker } } })) });
    expect(byContains.status, JSON.stringify(byContains.body)).toBe(200);
    expect(byContains.body.results.map((m: { id: string }) => m.id)).toEqual([hit.id]);
  });

  it("list by 32 tags (the most), every one required; 33 is a 400", async () => {
    const user = uniqueUser();
    const tags = Array.from({ length: 32 }, (_, i) => `t${i}`);
    const [hit] = await remember(key, user, [{ content: "tagged", tags }, { content: "half tagged", tags: tags.slice(0, 16) }]);
    const query = (list: string[]) => list.map((t) => `tags=${t}`).join("&");
    const response = await call("GET", `/v1/memories?user_id=${user}&${query(tags)}`, { key });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    expect(response.body.data.map((m: { id: string }) => m.id)).toEqual([hit.id]);
    const past = await call("GET", `/v1/memories?user_id=${user}&${query([...tags, "t32"])}`, { key });
    expect(past.status, JSON.stringify(past.body)).toBe(400);
  });

  it("one past a maximum is a 400, not a 500", async () => {
    const user = uniqueUser();
    await seed(user, marker);
    const tooMany = { ...containsAll(marker), and: [...containsAll(marker).and, { field: "metadata.app", op: "eq", value: marker }] };
    const tooLong = { field: "metadata.app", op: "in", value: [...listOf(marker), "one more"] };
    for (const where of [tooMany, tooLong]) {
      const response = await call("POST", "/v1/search", { key, body: { user_id: user, query: "gardening", where } });
      expect(response.status, JSON.stringify(response.body)).toBe(400);
    }
  });
});
