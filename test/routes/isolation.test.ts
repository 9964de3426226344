import { describe, expect, it } from "vitest";
import { call, errorOf, newTenant, remember } from "../helpers";

describe("tenant and owner isolation", () => {
  it("a key of tenant A gets 404 for B's memory ids on every route", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const [theirs] = await remember(b.key, "alice", [{ content: "B's secret plan" }]);
    for (const [method, path, body] of [
      ["GET", `/v1/memories/${theirs.id}`, undefined],
      ["GET", `/v1/memories/${theirs.id}/history`, undefined],
      ["PATCH", `/v1/memories/${theirs.id}`, { content: "hijacked" }],
      ["DELETE", `/v1/memories/${theirs.id}`, undefined],
      ["DELETE", `/v1/memories/${theirs.id}?hard=true`, undefined],
    ] as const) {
      const response = await call(method, path, { key: a.key, body });
      expect(response.status, `${method} ${path}`).toBe(404);
      expect(errorOf(response).code).toBe("not_found");
    }
    const still = await call("GET", `/v1/memories/${theirs.id}`, { key: b.key });
    expect(still.body).toMatchObject({ content: "B's secret plan", version: 1 });
  });

  it("the same user id in two tenants is two different owners", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await remember(a.key, "alice", [{ content: "A's alice likes jazz" }]);
    await remember(b.key, "alice", [{ content: "B's alice likes metal" }]);
    const search = await call("POST", "/v1/search", { key: a.key, body: { user_id: "alice", query: "likes jazz metal" } });
    expect(search.body.data.map((m: any) => m.content)).toEqual(["A's alice likes jazz"]);
    const list = await call("GET", "/v1/memories?user_id=alice", { key: b.key });
    expect(list.body.data.map((m: any) => m.content)).toEqual(["B's alice likes metal"]);
  });

  it("B's cube id is not found for A, on reads and writes", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const written = await call("POST", "/v1/memories", { key: b.key, body: { user_id: "u", memories: [{ content: "x" }] } });
    const cube = written.body.cube_id;
    expect((await call("GET", `/v1/memories?cube_id=${cube}`, { key: a.key })).status).toBe(404);
    expect((await call("POST", "/v1/search", { key: a.key, body: { cube_id: cube, query: "x" } })).status).toBe(404);
    const write = await call("POST", "/v1/memories", { key: a.key, body: { cube_id: cube, memories: [{ content: "planted" }] } });
    expect(write.status).toBe(404);
    const list = await call("GET", `/v1/memories?cube_id=${cube}`, { key: b.key });
    expect(list.body.data.map((m: any) => m.content)).toEqual(["x"]);
  });

  it("owners of one tenant do not see each other's memories", async () => {
    const { key } = await newTenant();
    await remember(key, "alice", [{ content: "alice's diary entry" }]);
    await remember(key, "bob", [{ content: "bob's diary entry" }]);
    const search = await call("POST", "/v1/search", { key, body: { user_id: "bob", query: "diary entry" } });
    expect(search.body.data.map((m: any) => m.content)).toEqual(["bob's diary entry"]);
    const list = await call("GET", "/v1/memories?user_id=alice", { key });
    expect(list.body.data.map((m: any) => m.content)).toEqual(["alice's diary entry"]);
  });
});
