import { createRoute } from "@hono/zod-openapi";
import { SearchRequest, SearchResponse } from "../schemas/search";
import { search } from "../services/search";
import { bearerSecurity, createRouter, errorResponses, jsonBody, jsonResponse, tenantContext } from "./shared";

export const searchRoutes = createRouter().openapi(
  createRoute({
    method: "post",
    path: "/v1/search",
    tags: ["search"],
    summary: "Search an owner's or a cube's memories",
    description:
      "Lexical (FTS5/BM25) over content and tags. Any text is a valid query: FTS5 syntax in it is treated as words.",
    security: bearerSecurity,
    request: { body: jsonBody(SearchRequest) },
    responses: {
      200: jsonResponse(SearchResponse, "Best matches first."),
      ...errorResponses("invalid_request", "unauthorized", "forbidden", "not_found", "payload_too_large"),
    },
  }),
  async (c) => c.json(await search(tenantContext(c, "read"), c.req.valid("json")), 200),
);
