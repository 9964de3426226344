import { describe, expect, it } from "vitest";
import { cubeIdOfMemory, cubeObjectName, defaultCubeId, isMemoryId, newCubeId, newMemoryId } from "../../src/core/ids";

describe("ids", () => {
  it("memory ids carry their cube and parse back to it", () => {
    const cube = newCubeId();
    const memory = newMemoryId(cube);
    expect(isMemoryId(memory)).toBe(true);
    expect(cubeIdOfMemory(memory)).toBe(cube);
  });

  it.each(["", "mem_", "mem_123", "cube_0123456789abcdef", `mem_${"A".repeat(32)}`, `mem_${"0".repeat(33)}`])(
    "rejects a malformed memory id %j",
    (id) => expect(cubeIdOfMemory(id)).toBeNull(),
  );

  it("default cube ids are deterministic per (tenant, owner) and differ across both", async () => {
    const a = await defaultCubeId("ten_a", "user:alice");
    expect(a).toBe(await defaultCubeId("ten_a", "user:alice"));
    expect(a).toMatch(/^cube_[0-9a-z]{16}$/);
    expect(a).not.toBe(await defaultCubeId("ten_b", "user:alice"));
    expect(a).not.toBe(await defaultCubeId("ten_a", "agent:alice"));
  });

  it("object names never collide across tenant/cube splits", () => {
    // Without the length prefix "ab" + "/c" and "a" + "b/c" would meet.
    expect(cubeObjectName("ab", "c")).not.toBe(cubeObjectName("a", "b/c"));
    expect(cubeObjectName("t", "cube_x")).toBe(cubeObjectName("t", "cube_x"));
  });
});
