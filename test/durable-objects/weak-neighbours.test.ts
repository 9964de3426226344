/**
 * The vector channel has no similarity floor (top_k means the k best), so an unrelated query still lists the cube's
 * nearest memories. Such a weak neighbour — found by the vector channel alone, below the embedder's
 * confidentSimilarity — is listed as it is: an archived one is not brought back from R2 and no hit counts as a read
 * (issue 12). A memory the query really finds is restored and counted as before.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

const DAY = 86_400_000;
const COLD = "Grandpa once rode a blue bicycle beside a zeppelin.";
const HOT = "Important: the passport is in the top drawer.";
const UNRELATED = "quarterly tax filing deadline";

async function search(key: string, user: string, query: string) {
  const response = await call("POST", "/v1/search", { key, body: { user_id: user, query } });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body.data as any[];
}

describe("weak nearest neighbours", () => {
  it("are listed but neither restored from the archive nor counted as read; a real match is both", async () => {
    const { key, tenantId } = await newTenant();
    const user = uniqueUser();
    const [cold, hot] = await remember(key, user, [
      { content: COLD, importance: 0.1 },
      { content: HOT, importance: 0.9 },
    ]);
    const ref: CubeRef = { tenantId, cubeId: cold.cube_id, owner: `user:${user}` };
    const stub = env.CUBE.getByName(cubeObjectName(tenantId, cold.cube_id));
    await runInDurableObject(stub, (instance) => {
      const at = Date.now() + 31 * DAY;
      instance.clock = () => at;
    });
    await runInDurableObject(stub, (instance) => instance.startJob(ref, "archive"));
    await runDurableObjectAlarm(stub);
    const archived = () => runInDurableObject(stub, (_i, state) => Number(state.storage.sql.exec("SELECT count(*) AS n FROM archived_fts").one().n));
    expect(await archived()).toBe(1);
    const seen = (hits: any[]) => hits.map((hit) => [hit.id, hit.state, hit.access_count]).sort();

    // Nothing in the cube is about taxes: both come back (no floor), far and found by no content channel but the vector one,
    // and neither is touched — twice over, so a read the first search counted would show in the second.
    for (let i = 0; i < 2; i++) {
      const weak = await search(key, user, UNRELATED);
      expect(weak.map((hit) => hit.channels.filter((c: string) => c !== "recent" && c !== "working"))).toEqual([["vector"], ["vector"]]);
      expect(seen(weak)).toEqual(seen([{ ...cold, state: "archived" }, hot]));
    }
    expect(await archived()).toBe(1);

    // A word of each finds it: the archived one comes back whole, and both reads count.
    const [found] = await search(key, user, "zeppelin");
    expect([found.id, found.state, found.content, found.access_count]).toEqual([cold.id, "activated", COLD, 1]);
    expect(await archived()).toBe(0);
    const [passport] = await search(key, user, "passport");
    expect([passport.id, passport.access_count]).toEqual([hot.id, 1]);
  }, 30_000);
});
