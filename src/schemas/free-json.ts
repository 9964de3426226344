/** Free JSON in a schema: bounded in depth, value count and bytes before anything walks it (docs/limits.md). */
import type { z } from "@hono/zod-openapi";
import { type JsonBounds, jsonBoundsProblem } from "../core/json-bounds";
import { LIMITS } from "./limits";

/** The bounds of free JSON of at most `bytes` serialised bytes. */
export const freeJsonBounds = (bytes: number): JsonBounds => ({ depth: LIMITS.jsonDepth, nodes: LIMITS.jsonNodes, bytes });

/**
 * `schema` (a shallow one: a record of unknown values) refused with a 400 when its value passes `bounds`. The walk is
 * iterative, so a value nested thousands deep is measured, not recursed into.
 */
export function bounded<T extends z.ZodType>(schema: T, bounds: JsonBounds) {
  return schema.superRefine((value, ctx) => {
    const problem = jsonBoundsProblem(value, bounds);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}
