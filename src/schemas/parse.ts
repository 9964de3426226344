/** Parsing a value built by an adapter (MCP arguments, a mem0 request) with a REST schema, so both accept exactly what the routes accept. */
import type { z } from "@hono/zod-openapi";
import { ApiError } from "../errors";

/** The parsed value, or `invalid_request` listing every problem with its path; `origin` names what was wrong. */
export function parseAsRest<T extends z.ZodType>(schema: T, value: unknown, origin = "arguments"): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues.map((issue) => ({ in: origin, path: issue.path.join("."), message: issue.message }));
  throw new ApiError("invalid_request", `the ${origin} are not valid`, details);
}
