/**
 * Failure drill for the embedding model (issue 17, item 7): while it fails (a Workers AI 429), writes are stored
 * without vectors and answered 201; the cube retries with backoff — never an alarm loop — and once the model answers,
 * every memory gets its vector and vector search finds it.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FIRST_BACKOFF_MS } from "../../durable-objects/cube/backoff";
import type { Retrieval } from "../../src/adapters/factory";
import type { Embedder } from "../../src/adapters/types";
import { cubeObjectName } from "../../src/core/ids";
import { call, newTenant, remember, uniqueUser } from "../helpers";

interface CubeInternals {
  retrieval: Retrieval;
  retrievalAdapters: Retrieval | null;
  clock: () => number;
}

async function cubeWithFlakyModel() {
  const { key, tenantId } = await newTenant();
  const user = uniqueUser();
  const [first] = await remember(key, user, [{ content: "Written while the model still answered." }]);
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, first.cube_id));
  let now = Date.now();
  const model = { failing: false, calls: 0, refused: 0 };
  await runInDurableObject(stub, (instance) => {
    const cube = instance as unknown as CubeInternals;
    const real = cube.retrieval.embedder;
    const flaky: Embedder = {
      id: real.id,
      dimensions: real.dimensions,
      confidentSimilarity: real.confidentSimilarity,
      fusionWeight: real.fusionWeight,
      embed: (texts, kind) => {
        model.calls++;
        if (!model.failing) return real.embed(texts, kind);
        model.refused++;
        return Promise.reject(new Error("AiError: 3040: Capacity temporarily exceeded, please try again. (429)"));
      },
    };
    cube.retrievalAdapters = { ...cube.retrieval, embedder: flaky };
    cube.clock = () => now;
  });
  const alarmAt = () => runInDurableObject(stub, (_instance, state) => state.storage.getAlarm());
  /** Moves the clock to the armed alarm and runs it; returns how far ahead it was armed. */
  const nextAlarm = async () => {
    const armed = await alarmAt();
    if (armed === null) return null;
    const ahead = armed - now;
    now = Math.max(now, armed);
    await runDurableObjectAlarm(stub);
    return ahead;
  };
  return { key, user, stub, first, model, nextAlarm, alarmAt, now: () => now };
}

const vectorSearch = (key: string, user: string, query: string) =>
  call("POST", "/v1/search", { key, body: { user_id: user, query, channels: ["vector"], top_k: 5 } });

describe("a failed embedding is retried with backoff until the memory has its vector", () => {
  it("stores writes during a 429 storm, backs off without looping, and embeds them all once the model answers", async () => {
    const cube = await cubeWithFlakyModel();
    cube.model.failing = true;
    const written = await remember(cube.key, cube.user, [{ content: "Priya's cat is called Biscuit." }, { content: "The wifi password is on the fridge." }]);
    expect(written).toHaveLength(2);
    const patched = await call("PATCH", `/v1/memories/${cube.first.id}`, { key: cube.key, body: { content: "Omar moved to Lisbon in March." } });
    expect(patched.status).toBe(200);
    // Not findable by vector yet: no vectors, and the first memory's old vector was dropped with its old text.
    expect((await vectorSearch(cube.key, cube.user, "Omar moved to Lisbon")).body.data.map((h: { id: string }) => h.id)).not.toContain(cube.first.id);
    expect((await vectorSearch(cube.key, cube.user, "Priya cat Biscuit")).body.data.map((h: { id: string }) => h.id)).not.toContain(written[0].id);

    // While the model fails: every alarm is armed ahead of the clock (no loop), and the waits grow.
    const gaps: number[] = [];
    for (let i = 0; i < 12; i++) {
      const ahead = await cube.nextAlarm();
      expect(ahead).not.toBeNull();
      gaps.push(ahead!);
    }
    expect(gaps.every((gap) => gap > 0)).toBe(true);
    // The cube's backoff (30 s, 60 s, …) between reindex attempts, each with the job's own short step retries.
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(4 * FIRST_BACKOFF_MS);
    const refusedWhileFailing = cube.model.refused;
    expect(refusedWhileFailing).toBeGreaterThan(3);
    expect(refusedWhileFailing).toBeLessThan(25);

    // The model answers again: within a few alarms every memory has its vector.
    cube.model.failing = false;
    for (let i = 0; i < 12 && (await cube.alarmAt()) !== null; i++) await cube.nextAlarm();
    const found = async (query: string) => (await vectorSearch(cube.key, cube.user, query)).body.data.map((h: { id: string }) => h.id);
    expect(await found("Priya cat Biscuit")).toContain(written[0].id);
    expect(await found("wifi password fridge")).toContain(written[1].id);
    expect(await found("Omar moved to Lisbon")).toContain(cube.first.id);
    const backoff = await runInDurableObject(cube.stub, (_instance, state) => state.storage.sql.exec("SELECT * FROM retry_backoff").toArray());
    expect(backoff).toEqual([]);
  }, 60_000);
});
