/**
 * Server-Timing (src/middleware/server-timing.ts; docs/hot-path.md): a single-memory write names each stage it
 * went through inside the Worker, so where its time goes can be read from any client; every response carries a total.
 */
import { describe, expect, it } from "vitest";
import { StageTimer } from "../../src/middleware/server-timing";
import { call, newTenant, uniqueUser } from "../helpers";

/** The laps of a Server-Timing header, in order, as [name, ms]. */
function laps(header: string | null): [string, number][] {
  return (header ?? "")
    .split(",")
    .map((part) => part.trim().match(/^([\w-]+);dur=(\d+(?:\.\d+)?)$/))
    .filter((match): match is RegExpMatchArray => match !== null)
    .map((match) => [match[1]!, Number(match[2])]);
}

describe("Server-Timing", () => {
  it("a single-memory write lists auth, rate limit, parsing, preparation, the cube call and the total", async () => {
    const { key } = await newTenant();
    const res = await call("POST", "/v1/memories", { key, body: { user_id: uniqueUser(), memories: [{ content: "Ada drinks green tea" }] } });
    expect(res.status).toBe(201);
    const measured = laps(res.headers.get("Server-Timing"));
    expect(measured.map(([name]) => name)).toEqual(["auth", "limit", "parse", "prepare", "cube", "total"]);
    const total = measured.at(-1)![1];
    const stages = measured.slice(0, -1).reduce((sum, [, ms]) => sum + ms, 0);
    expect(stages).toBeLessThanOrEqual(total + 0.01 * measured.length);
  });

  it("a refused request still carries its total, and no stage it did not reach", async () => {
    const res = await call("POST", "/v1/memories", { key: "mos_not_a_key", body: { user_id: uniqueUser(), memories: [{ content: "x" }] } });
    expect(res.status).toBe(401);
    expect(laps(res.headers.get("Server-Timing")).map(([name]) => name)).toEqual(["total"]);
  });

  it("laps measure from the previous mark", () => {
    const timer = new StageTimer();
    timer.lap("a");
    timer.lap("b");
    expect(laps(timer.header()).map(([name]) => name)).toEqual(["a", "b", "total"]);
  });
});
