/**
 * Issue 16, item 3: one answer contract for writes. Work after the commit (arming the expiry and outbox alarms)
 * may fail; the write stands and the answer says so, never a 500 for a stored memory.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

describe("after a committed write", () => {
  it("a failing alarm after the commit does not turn a stored write into an error", { timeout: 30_000 }, async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [first] = await remember(key, user, [{ content: "opens the cube" }]);
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
    await runInDurableObject(stub, (_instance, state) => {
      vi.spyOn(state.storage, "getAlarm").mockResolvedValue(null);
      vi.spyOn(state.storage, "setAlarm").mockRejectedValue(new Error("storage unavailable"));
    });
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    const written = await call("POST", "/v1/memories", { key, body: { user_id: user, memories: [{ content: "expires later", ttl: 3600 }] } });
    expect(written.status, JSON.stringify(written.body)).toBe(201);
    const read = await call("GET", `/v1/memories/${written.body.data[0].id}`, { key });
    expect(read.body.content).toBe("expires later");
    expect(errors.mock.calls.some(([message]) => String(message).includes("the write stands"))).toBe(true);
    errors.mockRestore();
  });
});
