/**
 * Server-Timing: how long each stage of an API request took inside the Worker, as laps (`auth`, `limit`, and for a
 * write `parse`, `prepare`, `cube`) and a `total`, so a client can tell the API's own time from the network's or a
 * local proxy's. In production a Worker's clock advances only on I/O, so CPU-only stages read 0 there and the laps show
 * where the request waited (the cube's RPC); under `wrangler dev` the clock runs and every stage shows.
 * docs/hot-path.md has a breakdown measured with it.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";

/** Laps of one request: each mark records the time since the previous one under its name. */
export class StageTimer {
  private readonly started = performance.now();
  private last = this.started;
  private readonly laps: string[] = [];

  /** Ends the current stage under `name` (a token: letters, digits, `-` and `_`). */
  lap(name: string): void {
    const now = performance.now();
    this.laps.push(`${name};dur=${(now - this.last).toFixed(2)}`);
    this.last = now;
  }

  /** The header's value: the laps so far and the total. */
  header(): string {
    return [...this.laps, `total;dur=${(performance.now() - this.started).toFixed(2)}`].join(", ");
  }
}

/** Starts a request's timer; the response carries its laps in `Server-Timing`. Mounted before everything else. */
export const serverTiming = createMiddleware<{ Variables: { timing: StageTimer } }>(async (c, next) => {
  const timer = new StageTimer();
  c.set("timing", timer);
  await next();
  c.res.headers.append("Server-Timing", timer.header());
});

/** Ends the current stage of the request's timer, if it has one (a route mounted without the middleware has not). */
export function lap(c: Context, name: string): void {
  (c.get("timing") as StageTimer | undefined)?.lap(name);
}
