/**
 * The hostile-input fuzzer (issue 16, item 6): property-based, seeded and reproducible (FUZZ_SEED overrides the
 * seed; a failure prints the seed and path to replay), run with `npm test`.
 *
 * - Every operation of the live OpenAPI document gets random hostile JSON, hostile path and query values, and
 *   valid bodies with one field replaced by something hostile: never a 5xx, and every 4xx in the one error shape.
 * - Memory writes at and just past each documented limit (docs/limits.md): a 2xx reads back exactly what was
 *   written, a 4xx writes nothing.
 * - PATCHes: a 2xx is one new version that reads back, a 4xx leaves the version as it was.
 * - Search `where` filters from the grammar, at and past its limits: 200 or 400, never a 5xx.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WHERE_LIMITS } from "../../src/core/where";
import { LIMITS } from "../../src/schemas/limits";
import { call, errorOf, newTenant, remember, uniqueUser } from "../helpers";

const SEED = Number(process.env.FUZZ_SEED ?? 20261205);
const TIMEOUT = 120_000;

// Two tenants: the generic pass may delete or revoke what it finds; the invariant checks need a stable one.
const chaos = await newTenant();
const target = await newTenant();

// ── hostile values ───────────────────────────────────────────────────────────────────────────────────────────────

function nested(levels: number): unknown {
  let value: unknown = "x";
  for (let i = 0; i < levels; i++) value = i % 2 ? [value] : { a: value };
  return value;
}

const HOSTILE_STRINGS = [
  "",
  " ",
  "\u0000",
  "a\ud800",
  "\udc00",
  "😀",
  "é".repeat(9_000),
  "x".repeat(LIMITS.idChars + 1),
  "'; DROP TABLE memories; --",
  "\" OR 1=1 --",
  "NEAR(a b) OR \"",
  "../../etc/passwd",
  "%00%ff",
  "mem_00000000000000000000000000000000",
  "cube_0000000000000000",
  "user:*",
  "2026-13-45T99:99:99Z",
  "NaN",
  "-1",
  "1e309",
];
const hostileString = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 20 }));
const hostileScalar = fc.oneof(
  hostileString,
  fc.constantFrom(0, -1, 1.5, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, true, false, null),
  fc.integer(),
  fc.double({ noNaN: true }),
);
const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 2, arbitrary: hostileScalar },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 3_000 }).map(nested) },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 120 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileString, hostileScalar, { maxKeys: 8 }) },
);

/** A copy of `value` with the property at `path` replaced (or added). */
function replaced(value: unknown, path: (string | number)[], by: unknown): unknown {
  if (path.length === 0) return by;
  const [head, ...rest] = path;
  const copy: any = Array.isArray(value) ? [...value] : value && typeof value === "object" ? { ...value } : {};
  copy[head!] = replaced(copy[head!], rest, by);
  return copy;
}

/** Every path inside a JSON value (objects and arrays), the value's own included. */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const inner = Array.isArray(value)
    ? value.flatMap((v, i) => pathsOf(v, [...at, i]))
    : value && typeof value === "object"
      ? Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k]))
      : [];
  return [at, ...inner];
}

// ── the generic pass over every operation ────────────────────────────────────────────────────────────────────────

interface Operation {
  method: string;
  path: string;
  query: string[];
}

const spec = (await call("GET", "/openapi.json")).body as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> };
const operations: Operation[] = Object.entries(spec.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({
    method: method.toUpperCase(),
    path,
    query: (op.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
  })),
);

const chaosUser = uniqueUser();
const [chaosMemory] = await remember(chaos.key, chaosUser, [{ content: "a memory for the fuzzer to poke at", tags: ["fuzz"] }]);

/** Valid bodies the mutations start from, by `METHOD path`. */
const SAMPLES: Record<string, unknown> = {
  "POST /v1/memories": { user_id: chaosUser, memories: [{ content: "fuzzed", tags: ["a"], metadata: { k: [1, "x"] }, session_id: "s1", ttl: 60 }] },
  "PATCH /v1/memories/{id}": { content: "patched", tags: ["b"], metadata: { k: 2 }, importance: 0.9 },
  "POST /v1/memories/{id}/rollback": { version: 1 },
  "POST /v1/search": { user_id: chaosUser, query: "memory", top_k: 5, where: { and: [{ field: "tags", op: "contains", value: "fuzz" }] }, filters: { type: "fact" } },
  "POST /v1/context": { user_id: chaosUser, query: "memory", budget_tokens: 500 },
  "POST /v1/cubes": { user_id: chaosUser, name: "fuzz-cube" },
  "POST /v1/keys": { scopes: ["read"], allowed_owners: [`user:${chaosUser}`], name: "fuzz" },
  "POST /v1/jobs": { type: "consolidate", cube_id: chaosMemory.cube_id },
  "POST /v1/cubes/{id}/grants": { principal: "user:someone", access: "read" },
  "POST /mem0/v3/memories/add/": { user_id: chaosUser, messages: "fuzzed", infer: false, async_mode: false, metadata: { k: 1 } },
  "POST /mem0/v3/memories/search/": { query: "memory", filters: { AND: [{ user_id: chaosUser }, { metadata: { k: { in: [1, 2] } } }] } },
  "POST /mem0/v3/memories/": { filters: { user_id: chaosUser } },
  "PUT /mem0/v1/memories/{memory_id}/": { text: "updated" },
  "PUT /mem0/v1/batch/": { memories: [{ memory_id: chaosMemory.id, text: "batch" }] },
};

const pathValue = fc.oneof(
  // Not the chaos key's own id nor its owner: revoking or erasing them would blind the rest of the run.
  fc.constantFrom(chaosMemory.id, chaosMemory.cube_id, chaos.tenantId, "user", "agent", "user:someone-else"),
  hostileString.filter((s) => s.length > 0),
);

function fill(path: string, values: string[]): string {
  let i = 0;
  return path.replace(/\{[^}]+\}/g, () => {
    const value = values[i++ % values.length]!;
    try {
      return encodeURIComponent(value);
    } catch {
      // A lone surrogate cannot be percent-encoded; send its bytes' replacement as a client would.
      return encodeURIComponent(value.replace(/\p{Cs}/gu, "\ufffd"));
    }
  });
}

const safeQuery = (name: string, value: string) => {
  try {
    return `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  } catch {
    return `${encodeURIComponent(name)}=%ED%A0%80`;
  }
};

async function expectNoServerError(response: Awaited<ReturnType<typeof call>>, what: string) {
  expect(response.status, `${what} → ${response.status} ${JSON.stringify(response.body)?.slice(0, 300)}`).toBeLessThan(500);
  if (response.status >= 400 && !what.startsWith("POST /mcp")) errorOf(response);
}

describe("fuzz: every route answers hostile input without a 5xx", { timeout: TIMEOUT }, () => {
  it("random bodies, path values and query strings on every operation", async () => {
    const operation = fc.constantFrom(...operations.filter((op) => !op.path.startsWith("/v1/admin")));
    await fc.assert(
      fc.asyncProperty(
        operation,
        fc.array(pathValue, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.string({ maxLength: 12 }), hostileString), { maxLength: 3 }),
        fc.oneof(hostileJson, fc.constant(undefined)),
        async (op, params, extraQuery, body) => {
          const names = op.query.length ? extraQuery.map(([, v], i) => [op.query[i % op.query.length]!, v] as const) : extraQuery;
          const query = names.map(([n, v]) => safeQuery(n, v)).join("&");
          const path = `${fill(op.path, params)}${query ? `?${query}` : ""}`;
          const response = await call(op.method, path, { key: chaos.key, ...(body === undefined || op.method === "GET" ? {} : { body }) });
          await expectNoServerError(response, `${op.method} ${path} ${JSON.stringify(body)?.slice(0, 200)}`);
        },
      ),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("valid bodies with one field replaced by something hostile", async () => {
    const samples = Object.entries(SAMPLES);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...samples), fc.nat(), hostileJson, async ([route, sample], pick, by) => {
        const [method, template] = route.split(" ") as [string, string];
        const paths = pathsOf(sample);
        const body = replaced(sample, paths[pick % paths.length]!, by);
        const path = fill(template, [template.includes("cubes/{id}") ? chaosMemory.cube_id : chaosMemory.id]);
        const response = await call(method, path, { key: chaos.key, body });
        await expectNoServerError(response, `${method} ${path} ${JSON.stringify(body).slice(0, 300)}`);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("MCP: random JSON-RPC envelopes and tool arguments", async () => {
    const tools = ["memos_remember", "memos_search", "memos_list_memories", "memos_update_memory", "memos_get_context", "memos_forget_memory"];
    const envelope = fc.oneof(
      hostileJson,
      fc.record({
        jsonrpc: fc.constant("2.0"),
        id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 })),
        method: fc.constant("tools/call"),
        params: fc.record({ name: fc.constantFrom(...tools), arguments: fc.oneof(hostileJson, fc.dictionary(fc.constantFrom("user_id", "query", "memories", "id", "metadata", "where"), hostileJson)) }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(envelope, async (body) => {
        const response = await call("POST", "/mcp", { key: chaos.key, headers: { Accept: "application/json, text/event-stream" }, body });
        await expectNoServerError(response, `POST /mcp ${JSON.stringify(body)?.slice(0, 300)}`);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

// ── writes at and past the limits: a 2xx reads back, a 4xx writes nothing ──────────────────────────────────────────

/** A value at a limit (valid) or just past it (invalid), for each field a memory has. */
const memoryField = fc.oneof(
  fc.constantFrom<[string, unknown]>(
    ["content", "é".repeat(LIMITS.contentBytes / 2)],
    ["content", `${"é".repeat(LIMITS.contentBytes / 2)}x`],
    ["content", "tab\tand\nnewline"],
    ["content", "nul\u0000"],
    ["content", "lone\ud800"],
    ["tags", Array.from({ length: LIMITS.tags }, (_, i) => `t${i}`)],
    ["tags", Array.from({ length: LIMITS.tags + 1 }, (_, i) => `t${i}`)],
    ["tags", ["x".repeat(LIMITS.tagChars)]],
    ["tags", ["x".repeat(LIMITS.tagChars + 1)]],
    ["tags", [" padded"]],
    ["session_id", "s".repeat(LIMITS.idChars)],
    ["session_id", "s".repeat(LIMITS.idChars + 1)],
    ["metadata", { deep: nested(LIMITS.jsonDepth - 1) }],
    ["metadata", { deep: nested(LIMITS.jsonDepth) }],
    ["metadata", { list: Array.from({ length: LIMITS.jsonNodes - 2 }, () => 0) }],
    ["metadata", { list: Array.from({ length: LIMITS.jsonNodes - 1 }, () => 0) }],
    ["metadata", { k: "é".repeat((LIMITS.metadataBytes - 8) / 2) }],
    ["metadata", { k: `${"é".repeat((LIMITS.metadataBytes - 8) / 2)}x` }],
    ["metadata", { ["k".repeat(64)]: 1 }],
    ["metadata", { ["k".repeat(65)]: 1 }],
    ["ttl", LIMITS.ttlSeconds],
    ["ttl", LIMITS.ttlSeconds + 1],
    ["ttl", 0],
    ["priority", 100],
    ["priority", 101],
    ["importance", 1],
    ["importance", 1.0001],
    ["valid_at", "2026-01-01T00:00:00Z"],
    ["valid_at", "2026-02-30T00:00:00Z"],
    ["source", { kind: "api", message_ids: Array.from({ length: LIMITS.messageIds }, (_, i) => `m${i}`) }],
    ["source", { kind: "api", message_ids: Array.from({ length: LIMITS.messageIds + 1 }, (_, i) => `m${i}`) }],
  ),
  fc.tuple(fc.constantFrom("content", "tags", "metadata", "session_id", "type", "frozen", "sensitivity"), hostileJson),
);

const memoryInput = fc
  .tuple(fc.string({ minLength: 1, maxLength: 30 }).filter((s) => s.trim().length > 0 && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s)), fc.array(memoryField, { maxLength: 3 }))
  .map(([content, fields]) => ({ content: `fuzz ${content}`, ...Object.fromEntries(fields) }));

const readBack = async (id: string) => (await call("GET", `/v1/memories/${id}`, { key: target.key })).body;

describe("fuzz: memory writes at and past every limit", { timeout: TIMEOUT }, () => {
  it("a 2xx reads back what was written; a 4xx writes nothing", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(memoryInput, { minLength: 1, maxLength: 4 }), async (memories) => {
        const user = uniqueUser();
        const response = await call("POST", "/v1/memories", { key: target.key, body: { user_id: user, memories } });
        await expectNoServerError(response, `write ${JSON.stringify(memories).slice(0, 300)}`);
        if (response.status === 201) {
          expect(response.body.data).toHaveLength(memories.length);
          for (const [i, stored] of (response.body.data as { id: string }[]).entries()) {
            const read = await readBack(stored.id);
            const sent = memories[i]!;
            expect(read.content).toBe(sent.content);
            if ("tags" in sent) expect(read.tags).toEqual(sent.tags);
            if ("metadata" in sent) expect(read.metadata).toEqual(sent.metadata);
          }
        } else {
          const listed = await call("GET", `/v1/memories?user_id=${user}&limit=100`, { key: target.key });
          expect(listed.body.data).toEqual([]);
        }
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it("a PATCH that answers 2xx is one new version that reads back; a 4xx changes nothing", async () => {
    const user = uniqueUser();
    const [memory] = await remember(target.key, user, [{ content: "the memory to patch" }]);
    let version = 1;
    const patch = fc.array(memoryField, { minLength: 1, maxLength: 3 }).map((fields) => Object.fromEntries(fields.filter(([name]) => name !== "source")));
    await fc.assert(
      fc.asyncProperty(patch, async (body) => {
        const response = await call("PATCH", `/v1/memories/${memory.id}`, { key: target.key, body });
        await expectNoServerError(response, `patch ${JSON.stringify(body).slice(0, 300)}`);
        const read = await readBack(memory.id);
        if (response.status === 200) {
          version += 1;
          if (typeof body.content === "string") expect(read.content).toBe(body.content);
          if ("metadata" in body) expect(read.metadata).toEqual(body.metadata);
        }
        expect(read.version).toBe(version);
        // A memory frozen by one case refuses the rest; thaw it so the run keeps testing writes.
        if (read.frozen) {
          await call("PATCH", `/v1/memories/${memory.id}`, { key: target.key, body: { frozen: false } });
          version += 1;
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });
});

// ── where filters from the grammar ──────────────────────────────────────────────────────────────────────────────

const FIELDS = ["type", "state", "tags", "session_id", "created_at", "valid_at", "metadata.k", "metadata.a.b", "metadata.list", "nope", "metadata.x y"];
const whereScalar = fc.oneof(hostileScalar, fc.constantFrom("fact", "activated", "2026-01-01T00:00:00Z", "fuzz"));
const condition = fc.record({
  field: fc.constantFrom(...FIELDS),
  op: fc.constantFrom("eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "like"),
  value: fc.oneof(
    whereScalar,
    fc.array(whereScalar, { maxLength: 5 }),
    fc.constantFrom(WHERE_LIMITS.listValues, WHERE_LIMITS.listValues + 1).map((n) => Array.from({ length: n }, (_, i) => `v${i}`)),
  ),
});
const where: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    condition,
    fc.record({ and: fc.array(tie("node"), { minLength: 0, maxLength: 4 }) }),
    fc.record({ or: fc.array(tie("node"), { minLength: 1, maxLength: 4 }) }),
    fc.record({ not: tie("node") }),
    fc.constantFrom(WHERE_LIMITS.conditions, WHERE_LIMITS.conditions + 1).map((n) => ({
      and: Array.from({ length: n }, (_, i) => ({ field: `metadata.k${i}`, op: "contains", value: "v" })),
    })),
  ),
})).node;

describe("fuzz: search filters", { timeout: TIMEOUT }, () => {
  it("any where is a 200 or a 400, on one cube and across cubes", async () => {
    const a = uniqueUser();
    const b = uniqueUser();
    const [one] = await remember(target.key, a, [{ content: "fuzz filter memory", tags: ["fuzz"], metadata: { k: "v", list: ["v", 1], a: { b: 2 } } }]);
    const [two] = await remember(target.key, b, [{ content: "another fuzz filter memory", metadata: { k: 1 } }]);
    await fc.assert(
      fc.asyncProperty(where, fc.boolean(), async (filter, across) => {
        const scope = across ? { cube_ids: [one.cube_id, two.cube_id] } : { user_id: a };
        const response = await call("POST", "/v1/search", { key: target.key, body: { ...scope, query: "fuzz", where: filter } });
        await expectNoServerError(response, `where ${JSON.stringify(filter).slice(0, 300)}`);
        expect([200, 400]).toContain(response.status);
      }),
      { seed: SEED, numRuns: 250 },
    );
  });
});
