/**
 * Identifiers. Every id carries a type prefix; memory ids also carry their cube, so a memory can be routed to
 * its Durable Object without a lookup table (the tenant check still happens against D1).
 */

// Crockford's base32 in lower case: no i, l, o, u, so ids read back without ambiguity.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** Length of the random or hashed body of cube, tenant and key ids: 16 × 5 bits = 80 bits. */
export const ID_BODY_LENGTH = 16;

function encode(bytes: Uint8Array, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += ALPHABET[(bytes[i] ?? 0) & 31];
  return out;
}

/**
 * Random bytes are drawn from the CSPRNG a pool at a time and each byte is used once: one getRandomValues call per
 * id was 1% of a single-memory write's CPU (three ids a request: request, memory, audit entry).
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let poolUsed = POOL_BYTES;

/** A random base32 string of `length` characters (5 bits each). */
export function randomBody(length: number = ID_BODY_LENGTH): string {
  if (length > POOL_BYTES) return encode(crypto.getRandomValues(new Uint8Array(length)), length);
  if (poolUsed + length > POOL_BYTES) {
    crypto.getRandomValues(pool);
    poolUsed = 0;
  }
  let out = "";
  for (let i = poolUsed; i < poolUsed + length; i++) out += ALPHABET[pool[i]! & 31];
  poolUsed += length;
  return out;
}

export const newTenantId = () => `ten_${randomBody()}`;
export const newKeyId = () => `key_${randomBody()}`;
export const newCubeId = () => `cube_${randomBody()}`;
export const newRequestId = () => `req_${randomBody()}`;

/** A new memory id inside `cubeId`: `mem_` + the cube's 16-character body + 16 random characters. */
export function newMemoryId(cubeId: string): string {
  return `mem_${cubeBody(cubeId)}${randomBody()}`;
}

/** A new job id inside `cubeId`: like memory ids, it names its cube so it can be polled without a lookup table. */
export function newJobId(cubeId: string): string {
  return `job_${cubeBody(cubeId)}${randomBody()}`;
}

const JOB_ID = /^job_[0-9a-z]{32}$/;

/** The cube a job id was minted in, or null when the id is not a well-formed job id. */
export function cubeIdOfJob(jobId: string): string | null {
  return JOB_ID.test(jobId) ? `cube_${jobId.slice(4, 4 + ID_BODY_LENGTH)}` : null;
}

const CUBE_ID = /^cube_[0-9a-z]{16}$/;
const MEMORY_ID = /^mem_[0-9a-z]{32}$/;

export const isCubeId = (id: string) => CUBE_ID.test(id);
export const isMemoryId = (id: string) => MEMORY_ID.test(id);

function cubeBody(cubeId: string): string {
  if (!isCubeId(cubeId)) throw new Error(`not a cube id: ${cubeId}`);
  return cubeId.slice("cube_".length);
}

/** The cube a memory id was minted in, or null when the id is not a well-formed memory id. */
export function cubeIdOfMemory(memoryId: string): string | null {
  return isMemoryId(memoryId) ? `cube_${memoryId.slice(4, 4 + ID_BODY_LENGTH)}` : null;
}

/**
 * The default cube of an owner has a deterministic id (a hash of tenant and owner), so two concurrent first
 * writes for the same owner agree on one cube instead of racing to create two.
 */
export async function defaultCubeId(tenantId: string, owner: string): Promise<string> {
  const name = `${tenantId}\n${owner}`;
  let id = defaultCubeIds.get(name);
  if (id === undefined) {
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(name));
    id = `cube_${encode(new Uint8Array(digest), ID_BODY_LENGTH)}`;
    if (defaultCubeIds.size >= DEFAULT_CUBE_IDS_MAX) defaultCubeIds.clear();
    defaultCubeIds.set(name, id);
  }
  return id;
}

/** Default cube ids already hashed in this isolate (a pure function of its inputs, so never stale); bounded. */
const defaultCubeIds = new Map<string, string>();
const DEFAULT_CUBE_IDS_MAX = 10_000;

/**
 * The Durable Object name of a cube. Length-prefixing the tenant keeps the mapping injective for any strings,
 * so no (tenant, cube) pair can ever address another pair's object.
 */
export function cubeObjectName(tenantId: string, cubeId: string): string {
  return `${tenantId.length}:${tenantId}/${cubeId}`;
}
