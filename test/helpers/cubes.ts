/** A cube to test inside: written through the API, then reached as a Durable Object (runInDurableObject and the like). */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { CubeRef } from "../../durable-objects/cube/protocol";
import { cubeObjectName } from "../../src/core/ids";
import { newTenant, remember, uniqueUser } from "../helpers";

/** A fresh tenant (with `scopes`) and one user's cube holding `memories`: its key, ref, object stub and the memories. */
export async function cubeWith(memories: object[], scopes?: string[]) {
  const { key, tenantId } = await newTenant(scopes);
  const user = uniqueUser();
  const written = await remember(key, user, memories);
  const cubeId = written[0].cube_id as string;
  const ref: CubeRef = { tenantId, cubeId, owner: `user:${user}` };
  const stub = env.CUBE.getByName(cubeObjectName(tenantId, cubeId));
  return { key, tenantId, user, written, cubeId, ref, stub };
}

/** Moves a cube's clock to `offset` ms from now, fixed there (the object keeps it until it is evicted). */
export const setCubeClock = (stub: ReturnType<typeof env.CUBE.getByName>, offset: number) =>
  runInDurableObject(stub, (instance) => {
    const at = Date.now() + offset;
    instance.clock = () => at;
  });
