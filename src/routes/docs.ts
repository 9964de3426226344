/**
 * GET /docs: the API reference, rendered in the browser by Scalar from GET /openapi.json. A page, not an API call,
 * so it is left out of the document itself; like /openapi.json it sits outside /v1 and needs no key.
 */
import { Scalar } from "@scalar/hono-api-reference";
import { createRouter } from "./shared";

export const docsRoutes = createRouter();

docsRoutes.get(
  "/docs",
  Scalar({
    url: "/openapi.json",
    pageTitle: "MemOS Edge API",
    // The "Try it" client asks for a tenant key (the root key for /v1/admin routes).
    authentication: { preferredSecurityScheme: "bearerAuth" },
  }),
);
