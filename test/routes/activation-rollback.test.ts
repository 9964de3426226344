/**
 * Activation memory, item 1's second half (issue 15): rolling the block back to a stored version (held until a new
 * standing memory arrives, every move an event with its reason) and the per-agent view (`?agent_id=`).
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { cubeObjectName } from "../../src/core/ids";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const activation = (key: string, cubeId: string, query = "") => call("GET", `/v1/cubes/${cubeId}/activation${query}`, { key });
const rollback = (key: string, cubeId: string, body: unknown) => call("POST", `/v1/cubes/${cubeId}/activation/rollback`, { key, body });

describe("POST /v1/cubes/{id}/activation/rollback", { timeout: 30_000 }, () => {
  it("puts a previous version back as a new one, holds it across unrelated writes, and lets a new instruction through", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [tea] = await remember(key, user, [{ content: "Ada prefers tea.", type: "preference" }]);
    const cubeId = tea.cube_id as string;
    const v1 = await activation(key, cubeId);
    const [jazz] = await remember(key, user, [{ content: "Ada likes loud jazz at dinner.", type: "preference" }]);
    const v2 = await activation(key, cubeId);
    expect(v2.body.version).toBe(v1.body.version + 1);

    const rolled = await rollback(key, cubeId, { version: v1.body.version, reason: "jazz was a one-off" });
    expect(rolled.status).toBe(200);
    expect(rolled.body).toMatchObject({ version: v2.body.version + 1, text: v1.body.text, etag: v1.body.etag });
    expect((await activation(key, cubeId)).body.version).toBe(rolled.body.version);

    // A plain fact changes nothing, and the hold keeps the block although jazz is still eligible.
    await remember(key, user, [{ content: "Ada visited Porto.", type: "event" }]);
    const held = await activation(key, cubeId);
    expect(held.body).toMatchObject({ version: rolled.body.version, etag: v1.body.etag });

    // The demotion and the rollback are events with the caller's reason.
    const provenance = await call("GET", `/v1/memories/${jazz.id}/provenance`, { key });
    expect(JSON.stringify(provenance.body)).toContain("the block was rolled back to a version without it");
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
    const events = await runInDurableObject(stub, (instance) =>
      (instance as any).ctx.storage.sql.exec("SELECT data FROM events WHERE type = 'activation.rolled_back'").toArray(),
    );
    expect(JSON.parse(String(events[0].data))).toMatchObject({ reason: "jazz was a one-off", to_version: v1.body.version });

    // A new instruction reaches the block on the next request: the hold gives way.
    const [rule] = await remember(key, user, [{ content: "Always answer Ada in French.", type: "instruction" }]);
    const released = await activation(key, cubeId);
    expect(released.body.version).toBe(rolled.body.version + 1);
    expect(released.body.text).toContain(rule.id);
    expect(released.body.text).toContain(jazz.id);
  });

  it("refuses a version that holds a forgotten memory (409), an unknown version (404) and bad bodies (400)", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [tea] = await remember(key, user, [{ content: "Bo prefers green tea.", type: "preference" }]);
    const cubeId = tea.cube_id as string;
    const v1 = await activation(key, cubeId);
    await call("DELETE", `/v1/memories/${tea.id}`, { key });
    const after = await activation(key, cubeId);
    expect(after.body.text).not.toContain(tea.id);

    const conflict = await rollback(key, cubeId, { version: v1.body.version, reason: "bring it back" });
    expect(conflict.status).toBe(409);
    expect(errorOf(conflict).message).toContain(tea.id);
    expect((await activation(key, cubeId)).body.etag).toBe(after.body.etag);

    expect((await rollback(key, cubeId, { version: 999, reason: "x" })).status).toBe(404);
    for (const body of [{ version: 1 }, { version: 0, reason: "x" }, { version: 1, reason: " " }, { version: 1, reason: "x", extra: 1 }]) {
      expect((await rollback(key, cubeId, body)).status, JSON.stringify(body)).toBe(400);
    }
    const { key: readOnly } = await newTenant(["read"]);
    expect(errorOf(await rollback(readOnly, cubeId, { version: 1, reason: "x" })).code).toBe("forbidden");
  });
});

describe("GET /v1/cubes/{id}/activation?agent_id=", { timeout: 30_000 }, () => {
  it("shows an agent its own and the shared standing memories, never another agent's, with stable bytes", async () => {
    const { key } = await newTenant();
    const user = uniqueUser();
    const [shared, planner, poet] = await remember(key, user, [
      { content: "Ada prefers tea.", type: "preference" },
      { content: "Plan Ada's days in 30-minute blocks.", type: "instruction", metadata: { agent_id: "planner" } },
      { content: "Write Ada's poems as haiku.", type: "instruction", metadata: { agent_id: "poet" } },
    ]);
    const cubeId = shared.cube_id as string;

    const whole = await activation(key, cubeId);
    for (const m of [shared, planner, poet]) expect(whole.body.text).toContain(m.id);

    const view = await activation(key, cubeId, "?agent_id=planner");
    expect(view.status).toBe(200);
    expect(view.body.agent_id).toBe("planner");
    expect(view.body.text).toContain(shared.id);
    expect(view.body.text).toContain(planner.id);
    expect(view.body.text).not.toContain(poet.id);
    expect(view.body.version).toBe(whole.body.version);
    expect(view.body.etag).not.toBe(whole.body.etag);

    await remember(key, user, [{ content: "Ada visited Porto.", type: "event" }]);
    const again = await activation(key, cubeId, "?agent_id=planner");
    expect(again.body.text).toBe(view.body.text);
    expect(again.body.etag).toBe(view.body.etag);
    expect(again.headers.get("ETag")).toBe(`"${view.body.etag}"`);

    expect((await activation(key, cubeId, "?agent_id=has%20space")).status).toBe(400);
  });
});
