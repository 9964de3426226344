/**
 * The tenant directory's held lists (durable-objects/tenant/directory.ts): read from D1 once, never re-read while
 * current, and a load racing a change never installs the list the change replaced (generation guard). The D1 reads
 * are injected here so a load can be held open while a change begins and ends; the object itself is exercised through
 * the Worker in test/services/webhook-delivery.test.ts and test/routes/hot-path.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  CHANGE_WINDOW_MS,
  type CubeGrants,
  MAX_CUBE_OWNERS_HELD,
  MAX_CUBES_HELD,
  MAX_GRANTS_HELD,
  type Subscriber,
  TenantDirectory,
  type TenantRows,
} from "../../durable-objects/tenant/directory";

/** Rows in "D1" that a test edits, with each load's count and an optional gate that holds loads open. */
function fakeD1() {
  const state = {
    webhooks: [] as Subscriber[],
    grants: new Map<string, CubeGrants>(),
    cubes: new Map<string, string>(),
    webhookLoads: 0,
    grantLoads: 0,
    cubeLoads: 0,
    gate: null as Promise<void> | null,
  };
  const rows: TenantRows = {
    async webhooks() {
      state.webhookLoads += 1;
      const snapshot = [...state.webhooks];
      if (state.gate) await state.gate;
      return snapshot;
    },
    async grants(cubeIds) {
      state.grantLoads += 1;
      const snapshot = new Map(cubeIds.filter((id) => state.grants.has(id)).map((id) => [id, new Map(state.grants.get(id))] as const));
      if (state.gate) await state.gate;
      return snapshot;
    },
    async cubeOwners(cubeIds) {
      state.cubeLoads += 1;
      const snapshot = new Map(cubeIds.filter((id) => state.cubes.has(id)).map((id) => [id, state.cubes.get(id)!] as const));
      if (state.gate) await state.gate;
      return snapshot;
    },
  };
  return { state, rows };
}

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const hook = (id: string): Subscriber => ({ id, events: ["memory.created"], createdAt: 1 });

describe("tenant directory: webhook subscribers", () => {
  it("reads D1 once and serves the held list after, an empty one included", async () => {
    const { state, rows } = fakeD1();
    const directory = new TenantDirectory(rows);
    expect(await directory.subscribers()).toEqual([]);
    expect(await directory.subscribers()).toEqual([]);
    expect(state.webhookLoads).toBe(1);
  });

  it("a change drops the list: the next read loads the committed rows once", async () => {
    const { state, rows } = fakeD1();
    const directory = new TenantDirectory(rows);
    await directory.subscribers();
    directory.begin({ kind: "webhooks" });
    state.webhooks.push(hook("whk_a"));
    directory.end({ kind: "webhooks" });
    expect((await directory.subscribers()).map((h) => h.id)).toEqual(["whk_a"]);
    expect(await directory.subscribers()).toHaveLength(1);
    expect(state.webhookLoads).toBe(2);
  });

  it("a load racing a change keeps the change: the load that read before the commit is not installed", async () => {
    const { state, rows } = fakeD1();
    const directory = new TenantDirectory(rows);
    const held = gate();
    state.gate = held.promise;
    const racing = directory.subscribers(); // reads the old rows, then waits
    directory.begin({ kind: "webhooks" });
    state.webhooks.push(hook("whk_new"));
    directory.end({ kind: "webhooks" });
    state.gate = null;
    held.open();
    expect(await racing).toEqual([]); // what it read, answered to its own caller only
    expect((await directory.subscribers()).map((h) => h.id)).toEqual(["whk_new"]);
  });

  it("reads during a change go to D1 and install nothing; a lost end costs at most the change window", async () => {
    const { state, rows } = fakeD1();
    let now = 1_000_000;
    const directory = new TenantDirectory(rows, () => now);
    directory.begin({ kind: "webhooks" });
    await directory.subscribers();
    state.webhooks.push(hook("whk_late"));
    // The writer's isolate died after its commit: no end. Reads stay uncached until the window passes…
    expect((await directory.subscribers()).map((h) => h.id)).toEqual(["whk_late"]);
    const during = state.webhookLoads;
    await directory.subscribers();
    expect(state.webhookLoads).toBe(during + 1);
    // …then the committed rows are loaded and held again.
    now += CHANGE_WINDOW_MS;
    await directory.subscribers();
    const after = state.webhookLoads;
    expect((await directory.subscribers()).map((h) => h.id)).toEqual(["whk_late"]);
    expect(state.webhookLoads).toBe(after);
  });
});

describe("tenant directory: grants", () => {
  it("answers the best permission of any principal, holds every cube asked about (with or without grants)", async () => {
    const { state, rows } = fakeD1();
    state.grants.set("cube_a", new Map([["user:bob", "read"], ["user:eve", "write"]]));
    const directory = new TenantDirectory(rows);
    expect(await directory.permissions(["cube_a", "cube_b"], ["user:bob"])).toEqual({ cube_a: "read" });
    expect(await directory.permissions(["cube_a", "cube_b"], ["user:bob", "user:eve"])).toEqual({ cube_a: "write" });
    expect(await directory.permissions(["cube_b"], ["user:eve"])).toEqual({});
    expect(state.grantLoads).toBe(1);
  });

  it("a revocation racing a load is kept, for that cube only", async () => {
    const { state, rows } = fakeD1();
    state.grants.set("cube_a", new Map([["user:bob", "read"]]));
    state.grants.set("cube_b", new Map([["user:bob", "read"]]));
    const directory = new TenantDirectory(rows);
    await directory.permissions(["cube_b"], ["user:bob"]);
    const held = gate();
    state.gate = held.promise;
    const racing = directory.permissions(["cube_a"], ["user:bob"]);
    directory.begin({ kind: "grants", cubeIds: ["cube_a"] });
    state.grants.delete("cube_a");
    directory.end({ kind: "grants", cubeIds: ["cube_a"] });
    state.gate = null;
    held.open();
    expect(await racing).toEqual({ cube_a: "read" });
    const loads = state.grantLoads;
    expect(await directory.permissions(["cube_a", "cube_b"], ["user:bob"])).toEqual({ cube_b: "read" });
    expect(state.grantLoads).toBe(loads + 1); // cube_a re-read; cube_b still held
  });

  it("a change to every cube's grants (an owner erased as a grantee) drops them all and guards loads in flight", async () => {
    const { state, rows } = fakeD1();
    state.grants.set("cube_a", new Map([["user:bob", "write"]]));
    const directory = new TenantDirectory(rows);
    await directory.permissions(["cube_a"], ["user:bob"]);
    const held = gate();
    state.gate = held.promise;
    const racing = directory.permissions(["cube_c"], ["user:bob"]);
    directory.begin({ kind: "grants", cubeIds: null });
    state.grants.clear();
    directory.end({ kind: "grants", cubeIds: null });
    state.gate = null;
    held.open();
    await racing;
    expect(await directory.permissions(["cube_a", "cube_c"], ["user:bob"])).toEqual({});
  });
});

describe("tenant directory: cube owners", () => {
  it("holds the cubes that exist; one absent is asked of D1 again, so a cube created since is found", async () => {
    const { state, rows } = fakeD1();
    state.cubes.set("cube_a", "user:alice");
    const directory = new TenantDirectory(rows);
    expect(await directory.owners(["cube_a", "cube_b"])).toEqual({ cube_a: "user:alice" });
    expect(await directory.owners(["cube_a"])).toEqual({ cube_a: "user:alice" });
    expect(state.cubeLoads).toBe(1);
    state.cubes.set("cube_b", "user:bob");
    expect(await directory.owners(["cube_a", "cube_b"])).toEqual({ cube_a: "user:alice", cube_b: "user:bob" });
    expect(state.cubeLoads).toBe(2);
    await directory.owners(["cube_b"]);
    expect(state.cubeLoads).toBe(2);
  });

  it("a cube's deletion (a grants change naming it) drops it, and a load racing the deletion does not bring it back", async () => {
    const { state, rows } = fakeD1();
    state.cubes.set("cube_a", "user:alice");
    state.cubes.set("cube_b", "user:bob");
    const directory = new TenantDirectory(rows);
    await directory.owners(["cube_b"]);
    const held = gate();
    state.gate = held.promise;
    const racing = directory.owners(["cube_a"]); // reads the row, then waits
    directory.begin({ kind: "grants", cubeIds: ["cube_a"] });
    state.cubes.delete("cube_a");
    directory.end({ kind: "grants", cubeIds: ["cube_a"] });
    state.gate = null;
    held.open();
    expect(await racing).toEqual({ cube_a: "user:alice" }); // what it read, to its own caller only
    expect(await directory.owners(["cube_a", "cube_b"])).toEqual({ cube_b: "user:bob" });
    // A held cube is dropped by its deletion too.
    directory.begin({ kind: "grants", cubeIds: ["cube_b"] });
    state.cubes.delete("cube_b");
    directory.end({ kind: "grants", cubeIds: ["cube_b"] });
    expect(await directory.owners(["cube_b"])).toEqual({});
  });

  it("an owner's erasure (every cube's grants) drops every held cube and guards loads in flight", async () => {
    const { state, rows } = fakeD1();
    state.cubes.set("cube_a", "user:alice");
    state.cubes.set("cube_c", "user:alice");
    const directory = new TenantDirectory(rows);
    await directory.owners(["cube_a"]);
    const held = gate();
    state.gate = held.promise;
    const racing = directory.owners(["cube_c"]);
    directory.begin({ kind: "grants", cubeIds: null });
    state.cubes.clear();
    directory.end({ kind: "grants", cubeIds: null });
    state.gate = null;
    held.open();
    await racing;
    expect(await directory.owners(["cube_a", "cube_c"])).toEqual({});
  });
});

describe("tenant directory: what it holds is bounded (at each limit and one past it)", () => {
  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `cube_${from + i}`);

  it(`holds MAX_CUBE_OWNERS_HELD (${MAX_CUBE_OWNERS_HELD}) cube owners; one more sends the least recently used out`, async () => {
    const { state, rows } = fakeD1();
    for (const id of ids(MAX_CUBE_OWNERS_HELD + 1)) state.cubes.set(id, "user:alice");
    const directory = new TenantDirectory(rows);
    await directory.owners(ids(MAX_CUBE_OWNERS_HELD));
    await directory.owners(["cube_0"]); // at the limit: still held (and now the most recently used)
    expect(state.cubeLoads).toBe(1);
    await directory.owners([`cube_${MAX_CUBE_OWNERS_HELD}`]); // one past it: cube_1 is the oldest and goes
    await directory.owners(["cube_0"]);
    expect(state.cubeLoads).toBe(2);
    await directory.owners(["cube_1"]);
    expect(state.cubeLoads).toBe(3);
  });

  it(`holds the grants of MAX_CUBES_HELD (${MAX_CUBES_HELD}) cubes; one more sends the least recently used out`, async () => {
    const { state, rows } = fakeD1();
    const directory = new TenantDirectory(rows);
    await directory.permissions(ids(MAX_CUBES_HELD), ["user:bob"]);
    await directory.permissions(["cube_0"], ["user:bob"]);
    expect(state.grantLoads).toBe(1);
    await directory.permissions([`cube_${MAX_CUBES_HELD}`], ["user:bob"]);
    await directory.permissions(["cube_0"], ["user:bob"]);
    expect(state.grantLoads).toBe(2);
    await directory.permissions(["cube_1"], ["user:bob"]);
    expect(state.grantLoads).toBe(3);
  });

  it(`holds MAX_GRANTS_HELD (${MAX_GRANTS_HELD}) grant rows; one more row sends the oldest cube out`, async () => {
    const { state, rows } = fakeD1();
    const perCube = 1_000;
    const cubes = MAX_GRANTS_HELD / perCube;
    for (const id of ids(cubes)) state.grants.set(id, new Map(Array.from({ length: perCube }, (_, i) => [`user:u${i}`, "read"] as const)));
    state.grants.set(`cube_${cubes}`, new Map([["user:u0", "write"]]));
    const directory = new TenantDirectory(rows);
    expect(await directory.permissions(ids(cubes), ["user:u0"])).toMatchObject({ cube_0: "read" });
    await directory.permissions(["cube_0"], ["user:u0"]); // at the limit: still held
    expect(state.grantLoads).toBe(1);
    expect(await directory.permissions([`cube_${cubes}`], ["user:u0"])).toEqual({ [`cube_${cubes}`]: "write" });
    await directory.permissions(["cube_1"], ["user:u0"]); // cube_1 (the oldest) went for the one row past the limit
    expect(state.grantLoads).toBe(3);
  });
});

