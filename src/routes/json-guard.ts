/**
 * The first look at every JSON body, before any route, schema or service walks it (issue 16, items 2 and 4): it
 * must not nest deeper than any schema could use, and every key and string in it must be well-formed Unicode. A
 * lone surrogate has no UTF-8 spelling, so `"eve\ud800"` and `"eve\udc00"` would both be stored as the same
 * replacement bytes — two owners sharing a cube that no spelling can delete — and is refused as a 400 here.
 * Each field's own limits (docs/limits.md) are the schemas'; this guard only keeps hostile nesting from reaching them.
 */
import { createMiddleware } from "hono/factory";
import { type JsonBounds, jsonBoundsProblem } from "../core/json-bounds";
import { ApiError } from "../errors";
import { LIMITS } from "../schemas/limits";
import type { AppEnv } from "./shared";

/**
 * The deepest body: free JSON at its own limit inside the deepest envelope a route has (an MCP call's arguments,
 * a batch's memory). Values and bytes are bounded by the body size limit already.
 */
export const BODY_BOUNDS: JsonBounds = { depth: LIMITS.jsonDepth + 8, nodes: LIMITS.bodyBytes, bytes: Infinity };

/** What is wrong with a parsed JSON body, or null. */
export const bodyProblem = (body: unknown) => jsonBoundsProblem(body, BODY_BOUNDS);

/**
 * Refuses JSON bodies past {@link BODY_BOUNDS} or holding ill-formed Unicode. Paths in `except` read their bodies
 * themselves (MCP checks its own with {@link bodyProblem}; the signed hook needs its raw bytes).
 */
export function guardJsonBodies(except: readonly string[]) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const type = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json" || except.includes(c.req.path)) return next();
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      // Malformed JSON: the route's validator answers it in the usual words (Hono keeps the text it read).
      return next();
    }
    const problem = bodyProblem(body);
    if (problem) throw new ApiError("invalid_request", `the body ${problem}`, [{ in: "body", path: "", message: problem }]);
    await next();
  });
}
