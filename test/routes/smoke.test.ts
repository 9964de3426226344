import { describe, expect, it } from "vitest";
import { call, newTenant, remember, uniqueUser } from "../helpers";

describe("smoke", () => {
  it("health answers without a key", async () => {
    const response = await call("GET", "/health");
    expect(response.status).toBe(200);
    expect(response.body.status).toBe("ok");
  });

  it("writes and searches a memory", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: "Alice is allergic to peanuts." }]);
    expect(memory.id).toMatch(/^mem_/);
    const found = await call("POST", "/v1/search", { key, body: { user_id: user, query: "peanut allergy" } });
    expect(found.status).toBe(200);
    expect(found.body.data.map((m: any) => m.id)).toEqual([memory.id]);
  });
});
