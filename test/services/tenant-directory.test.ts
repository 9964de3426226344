/**
 * The writers' bracket around a D1 write of webhooks or grants (src/services/tenant-directory.ts): the object is told
 * before the write — if it cannot be, nothing is written — and after it; a failed "after" never turns a committed
 * write into an error (the object's change window covers it, test/durable-objects/tenant-directory.test.ts).
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createDeps } from "../../src/deps";
import type { Deps } from "../../src/services/context";
import { changeGrants, changeWebhooks } from "../../src/services/tenant-directory";

afterEach(() => vi.restoreAllMocks());

/** Deps whose tenant directory object answers begin / end as given. */
function depsWith(directory: { beginChange: () => Promise<void>; endChange: () => Promise<void> }): Deps {
  const deps = createDeps(env);
  return { ...deps, tenants: { getByName: () => directory } as unknown as Deps["tenants"] };
}

describe("changing a tenant's webhooks or grants", () => {
  it("writes nothing when the object cannot be told first", async () => {
    const write = vi.fn(async () => "written");
    const end = vi.fn(async () => undefined);
    const deps = depsWith({ beginChange: async () => Promise.reject(new Error("object unreachable")), endChange: end });
    await expect(changeWebhooks(deps, "ten_x", write)).rejects.toThrow("object unreachable");
    expect(write).not.toHaveBeenCalled();
    expect(end).not.toHaveBeenCalled();
  });

  it("a committed write stands when the object misses its end (logged); a failed write still ends the change", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const deps = depsWith({ beginChange: async () => undefined, endChange: async () => Promise.reject(new Error("gone")) });
    expect(await changeGrants(deps, "ten_x", ["cube_a"], async () => "committed")).toBe("committed");
    expect(logged).toHaveBeenCalledTimes(1);

    const end = vi.fn(async () => undefined);
    const failing = depsWith({ beginChange: async () => undefined, endChange: end });
    await expect(changeGrants(failing, "ten_x", null, async () => Promise.reject(new Error("D1 refused")))).rejects.toThrow("D1 refused");
    expect(end).toHaveBeenCalledTimes(1);
  });
});
