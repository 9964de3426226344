/**
 * The audit middleware: files an entry for every request that authenticated (a key, the root key acting on a tenant,
 * or a verified hook delivery), whatever its status, through the bookkeeping queue, which lands entries in batches.
 * Requests refused by auth or by the rate limit never get here: the first have no tenant, and recording the second
 * would let a flood fill the log at the flood's rate. A failed send is logged, not surfaced.
 *
 * Nothing of it runs before the answer leaves (docs/hot-path.md, "After the answer"): the ids an entry carries are
 * read from the object the handler gave `c.json` — not from the serialised answer, which a search fills with ten
 * whole memories — and the entry is built and sent on a later turn of the event loop, so workerd's one thread
 * (locally also the cube's, the proxy's entry worker's and the queue consumer's) hands the answer on first.
 */
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { matchedRoutes } from "hono/route";
import type { AppEnv } from "../routes/shared";
import { auditAction, auditEntryOf, MCP_ACTION, openApiRoute, routeParams } from "../services/audit-entry";
import { newAuditId } from "../services/bookkeeping";
import type { Deps, Principal } from "../services/context";
import type { VerifiedDelivery } from "../services/lifecycle-hook";

/** What the handler answered with `c.json`: the object, and the body stream of the Response built from it. */
interface Answered {
  object: unknown;
  body: ReadableStream | null;
}

/**
 * Records every `c.json` call of the request, so that the entry reads the answer's object itself. Hono's `c.res`
 * setter may rebuild the Response (to merge headers set earlier) but keeps its body stream, which is how the last
 * answer is recognised as the one sent.
 */
function watchJsonAnswers(c: Context<AppEnv>): () => Answered | null {
  let answered: Answered | null = null;
  const json = c.json;
  c.json = ((...args: Parameters<typeof json>) => {
    const response = json(...args);
    answered = { object: args[0], body: response.body };
    return response;
  }) as typeof json;
  return () => answered;
}

/** Resolves on a later turn of the event loop: after the answer has been handed on. */
const afterTheAnswer = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

/** Files the request's audit entry after the response (see the module comment). */
export const recordAuditEntry = createMiddleware<AppEnv>(async (c, next) => {
  const at = Date.now();
  const answer = watchJsonAnswers(c);
  await next();
  const principal = c.get("principal") as Principal | undefined;
  // Set by the signed hook's own route middleware, which extends AppEnv.
  const delivery = (c.var as { delivery?: VerifiedDelivery }).delivery;
  const deps = c.get("deps") as Deps | undefined;
  if (!deps) return;
  if (!principal && !delivery) {
    c.executionCtx.waitUntil(deps.bookkeeping.release().catch((error: unknown) => console.error("bookkeeping not sent", error)));
    return;
  }

  const routes = matchedRoutes(c);
  let handler: (typeof routes)[number] | undefined;
  for (const route of routes) if (route.method !== "ALL") handler = route;
  const query = { hard: c.req.query("hard"), cube_id: c.req.query("cube_id") };
  const route = handler ? openApiRoute(handler.path) : null;
  const isMcp = auditAction({ method: c.req.method, route, path: c.req.path, query }) === MCP_ACTION;
  // Only JSON bodies are read for ids (MCP's are JSON-RPC envelopes, not API shapes). The answer's object when the
  // handler's c.json built the response sent; otherwise (a JSON response built another way) its text, read here and
  // the response rebuilt from it — not cloned: a clone tees the body stream, and the tee held a single-memory write's
  // answer on workerd's one thread for as long as the write itself took (docs/hot-path.md).
  const answered = answer();
  let responseBody: unknown;
  let responseText: string | null = null;
  if (!isMcp && c.res.body !== null && (c.res.headers.get("Content-Type") ?? "").includes("application/json")) {
    if (answered !== null && answered.body === c.res.body) responseBody = answered.object;
    else {
      responseText = await c.res.text();
      c.res = new Response(responseText, c.res);
    }
  }
  // The body as the route's validator read it: Hono caches the text (json() parses it), or the parsed JSON.
  const bodyCache = c.req.bodyCache as { json?: Promise<unknown>; text?: Promise<string> };
  const cachedRequestJson = () => bodyCache.json ?? bodyCache.text?.then((text) => JSON.parse(text) as unknown);
  const seen = {
    method: c.req.method,
    route,
    path: c.req.path,
    params: handler ? routeParams(handler.path, c.req.path) : {},
    query,
    principal,
    hookTenantId: delivery?.tenantId,
    requestId: c.var.requestId,
    at,
    status: c.res.status,
  };
  const requestId = c.var.requestId;
  c.executionCtx.waitUntil(
    (async () => {
      await afterTheAnswer();
      if (responseText !== null) {
        try {
          responseBody = JSON.parse(responseText) as unknown;
        } catch {
          responseBody = undefined;
        }
      }
      const requestBody: unknown = isMcp ? undefined : await cachedRequestJson()?.catch(() => undefined);
      const entry = auditEntryOf({ ...seen, requestBody, responseBody });
      // One message with what the handler recorded (directory counts, key use), held until now.
      await deps.bookkeeping.release(entry ? { kind: "audit", entry: { ...entry, id: newAuditId() } } : undefined);
    })().catch((error: unknown) => console.error(`request ${requestId}: audit entry not recorded`, error)),
  );
});
