/**
 * The snapshot cubes an erasure destroys after its commit (services/memstore-erasure.ts) are split into chunks of
 * SNAPSHOT_DESTROYS_PER_CALL, one coordinating cube per chunk: exactly that many take one call, one more takes a
 * second call whose coordinator has no others and destroys itself. Run at a small chunk size over real cubes.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { createDeps } from "../../src/deps";
import { cubeObjectName } from "../../src/core/ids";
import { SNAPSHOT_DESTROYS_PER_CALL, destroySnapshots } from "../../src/services/memstore-erasure";
import { newTenant, remember, uniqueUser } from "../helpers";

const PER_CALL = 3;

/** `count` cubes of one tenant, a memory in each. */
async function cubes(count: number): Promise<CubeRef[]> {
  const { key, tenantId } = await newTenant();
  const refs: CubeRef[] = [];
  for (let i = 0; i < count; i++) {
    const user = uniqueUser();
    const [memory] = await remember(key, user, [{ content: `snapshot copy ${i}` }]);
    refs.push({ tenantId, cubeId: memory.cube_id, owner: `user:${user}` });
  }
  return refs;
}

const memoriesIn = (ref: CubeRef) =>
  runInDurableObject(env.CUBE.getByName(cubeObjectName(ref.tenantId, ref.cubeId)), (_instance, state) =>
    Number(state.storage.sql.exec("SELECT count(*) AS n FROM memories").one().n),
  );

/** Destroys `refs` `PER_CALL` per call; the cubes the Worker called (the coordinators). */
async function destroyed(refs: CubeRef[]): Promise<string[]> {
  const deps = createDeps(env);
  const called: string[] = [];
  const counting = {
    ...deps,
    cubes: {
      getByName: (name: string) => {
        called.push(name);
        return deps.cubes.getByName(name);
      },
    } as typeof deps.cubes,
  };
  await destroySnapshots(counting, refs, PER_CALL);
  return called;
}

describe("destroying an erased owner's snapshot cubes", () => {
  it(`is one call for exactly the chunk's ${PER_CALL} cubes (${SNAPSHOT_DESTROYS_PER_CALL} outside tests)`, async () => {
    const refs = await cubes(PER_CALL);
    expect(await Promise.all(refs.map(memoriesIn))).toEqual(refs.map(() => 1));
    expect(await destroyed(refs)).toEqual([cubeObjectName(refs[0]!.tenantId, refs[0]!.cubeId)]);
    expect(await Promise.all(refs.map(memoriesIn))).toEqual(refs.map(() => 0));
  });

  it("continues in a second call one cube past the chunk, whose coordinator destroys itself", async () => {
    const refs = await cubes(PER_CALL + 1);
    expect(await destroyed(refs)).toEqual([refs[0]!, refs[PER_CALL]!].map((ref) => cubeObjectName(ref.tenantId, ref.cubeId)));
    expect(await Promise.all(refs.map(memoriesIn))).toEqual(refs.map(() => 0));
  });
});
