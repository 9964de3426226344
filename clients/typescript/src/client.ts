/**
 * MemosClient: every route of the MemOS Edge API, typed from its OpenAPI document (schema.d.ts, generated).
 * A named method for each `/v1` route, here by area, with the two namespaces in their own files: `client.webhooks`
 * (webhooks.ts) and `client.admin` (admin.ts). `request(method, path, …)` reaches any route in the document, the
 * mem0-compatible `/mem0` facade included.
 */
import createClient, { type Client, type MaybeOptionalInit } from "openapi-fetch";
import type { HttpMethod, MediaType, PathsWithMethod } from "openapi-typescript-helpers";
import { adminMethods } from "./admin.js";
import { type CallOptions, callInit, everyItem } from "./calls.js";
import { MemosApiError } from "./errors.js";
import { OPERATIONS } from "./operations.js";
import type { ApiRequester, InitParam, Memory, RequestExtras, ResponseData, Schemas } from "./request.js";
import type { paths } from "./schema.js";
import { type FetchLike, type RetryOptions, type SendPolicy, Transport } from "./transport.js";
import { webhookMethods } from "./webhooks.js";

export interface MemosClientOptions {
  /** Where the API is, e.g. `https://memos.example.com` or `http://127.0.0.1:8787`. */
  baseUrl: string;
  /** A tenant key (`mos_…`), or the root key for `client.admin`. Omit it only to call /health or the signed hook. */
  apiKey?: string;
  /** The fetch to send requests with (default: the global one); a Worker can pass a service binding's. */
  fetch?: FetchLike;
  /** Retries on 429, 5xx and network failures; see {@link RetryOptions}. */
  retry?: RetryOptions;
  /** How long one attempt may wait for the response headers, in ms (default 30 s). */
  timeoutMs?: number;
  /** Headers sent with every request (a `User-Agent`, say). */
  headers?: Record<string, string>;
}

/** The query of GET /v1/memories. */
export type ListMemoriesQuery = NonNullable<paths["/v1/memories"]["get"]["parameters"]["query"]>;
/** The query of GET /v1/cubes. */
export type ListCubesQuery = NonNullable<paths["/v1/cubes"]["get"]["parameters"]["query"]>;
/** The query of GET /v1/cubes/{id}/grants. */
export type ListGrantsQuery = NonNullable<paths["/v1/cubes/{id}/grants"]["get"]["parameters"]["query"]>;
/** The query of GET /v1/audit. */
export type AuditQuery = NonNullable<paths["/v1/audit"]["get"]["parameters"]["query"]>;
/** POST /v1/memories with `memories`: written verbatim (201). */
export type RememberRequest = Pick<Schemas["WriteMemoriesRequest"], "user_id" | "agent_id" | "cube_id"> & {
  memories: Schemas["MemoryInput"][];
};
/** POST /v1/memories with `messages`: a conversation for MemReader (202 with a job, or 200 with `sync`). */
export type IngestRequest = Omit<Schemas["WriteMemoriesRequest"], "memories"> & { messages: Schemas["MessageInput"][] };

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export class MemosClient implements ApiRequester {
  private readonly api: Client<paths, MediaType>;
  private readonly transport: Transport;

  constructor(options: MemosClientOptions) {
    const baseFetch = options.fetch ?? ((request: Request) => globalThis.fetch(request));
    this.transport = new Transport(baseFetch, options.timeoutMs ?? 30_000, options.retry);
    this.api = createClient<paths, MediaType>({
      baseUrl: options.baseUrl,
      headers: {
        ...options.headers,
        ...(options.apiKey === undefined ? {} : { Authorization: `Bearer ${options.apiKey}` }),
      },
    });
  }

  /**
   * Any operation of the API, typed by its path template: `request("get", "/v1/memories/{id}", { params: { path: { id } } })`.
   * Resolves to the success body; throws {@link MemosApiError} for an error status and `MemosNetworkError` when no
   * answer came.
   */
  async request<M extends HttpMethod, P extends PathsWithMethod<paths, M>, Init extends MaybeOptionalInit<paths[P], M>>(
    method: M,
    path: P,
    ...init: InitParam<Init>
  ): Promise<ResponseData<P, M, Init>> {
    const { idempotencyKey, repeatable, ...rest } = (init[0] ?? {}) as RequestExtras;
    const upper = method.toUpperCase();
    const operation = OPERATIONS[`${upper} ${path}` as keyof typeof OPERATIONS] as { idempotencyKey: boolean } | undefined;
    const policy: SendPolicy = {
      repeatable: repeatable ?? (SAFE_METHODS.has(upper) || operation?.idempotencyKey === true),
      idempotencyKey,
      sent: { attempts: 0, idempotencyKey: undefined },
    };
    const options = {
      ...rest,
      fetch: (request: Request) => this.transport.send(request, policy),
    };
    // The call's own types were checked against `paths` above; openapi-fetch's overloads cannot see through generics.
    const { data, error, response } = await this.api.request(method, path, options as never);
    if (!response.ok) throw MemosApiError.fromResponse(response, error, policy.sent);
    return data as unknown as ResponseData<P, M, Init>;
  }

  // ── memories ───────────────────────────────────────────────────────────────────────────────────────────────────

  /** Writes 1–100 memories verbatim for `user_id`, `agent_id` or `cube_id`; safe to retry (Idempotency-Key). */
  async remember(body: RememberRequest, options?: CallOptions): Promise<Schemas["WriteMemoriesResponse"]> {
    const data = await this.request("post", "/v1/memories", { body, ...callInit(options) });
    return data as Schemas["WriteMemoriesResponse"];
  }

  /** Sends a conversation to MemReader: a job (202), or with `sync: true` the extracted memories (200). */
  async ingest(body: IngestRequest, options?: CallOptions): Promise<Schemas["IngestResponse"]> {
    const data = await this.request("post", "/v1/memories", { body, ...callInit(options) });
    return data as Schemas["IngestResponse"];
  }

  /** Hybrid recall over an owner's memories, one cube, or several. */
  search(body: Schemas["SearchRequest"], options?: CallOptions) {
    return this.request("post", "/v1/search", { body, ...callInit(options), repeatable: true });
  }

  /** The context an agent should put in its prompt for a query, within `budget_tokens`. */
  context(body: Schemas["ContextRequest"], options?: CallOptions) {
    return this.request("post", "/v1/context", { body, ...callInit(options), repeatable: true });
  }

  /**
   * A memory-augmented chat completion (OpenAI's shape, not streamed): the cube's activation block and recalled
   * memories go first in the prompt, the exchange is remembered afterwards. For streaming use the `openai` package
   * with `baseURL: <memos>/v1` (docs/chat.md). Not retried: a chat completion is not idempotent.
   */
  chat(body: Schemas["ChatCompletionRequest"] & { stream?: false }, options?: CallOptions) {
    return this.request("post", "/v1/chat/completions", { body, ...callInit(options) });
  }

  /** One memory; `as_of` reads it as it stood then. */
  get(id: string, query?: { as_of?: string }, options?: CallOptions) {
    return this.request("get", "/v1/memories/{id}", { params: { path: { id }, query }, ...callInit(options) });
  }

  /** One page of an owner's or a cube's memories, newest first. */
  list(query: ListMemoriesQuery, options?: CallOptions) {
    return this.request("get", "/v1/memories", { params: { query }, ...callInit(options) });
  }

  /** Every memory `list` would return, page after page. */
  listAll(query: Omit<ListMemoriesQuery, "cursor">, options?: CallOptions): AsyncGenerator<Memory> {
    return everyItem((page) => this.list({ ...query, ...page }, options));
  }

  /** Changes fields: writes version n+1 and keeps version n. */
  update(id: string, patch: Schemas["UpdateMemoryRequest"], options?: CallOptions) {
    return this.request("patch", "/v1/memories/{id}", { params: { path: { id } }, body: patch, ...callInit(options) });
  }

  /** Forgets a memory (soft: history kept, `rollback` undoes it), or with `hard: true` purges it and its versions. */
  forget(id: string, { hard = false }: { hard?: boolean } = {}, options?: CallOptions) {
    const query = { hard: hard ? ("true" as const) : ("false" as const) };
    return this.request("delete", "/v1/memories/{id}", { params: { path: { id }, query }, ...callInit(options) });
  }

  /** Every version of a memory, oldest first. */
  history(id: string, options?: CallOptions) {
    return this.request("get", "/v1/memories/{id}/history", { params: { path: { id } }, ...callInit(options) });
  }

  /** Brings a version's payload and header back as a new version (also undoes a soft delete). */
  rollback(id: string, version: number, options?: CallOptions) {
    return this.request("post", "/v1/memories/{id}/rollback", { params: { path: { id } }, body: { version }, ...callInit(options) });
  }

  /** Pins a memory into its cube's working memory. */
  pin(id: string, options?: CallOptions) {
    return this.request("post", "/v1/memories/{id}/pin", { params: { path: { id } }, ...callInit(options) });
  }

  /** Unpins a memory. */
  unpin(id: string, options?: CallOptions) {
    return this.request("delete", "/v1/memories/{id}/pin", { params: { path: { id } }, ...callInit(options) });
  }

  /** Where a memory came from (episode and cited messages, writer and watermark, import origin) and its events. */
  provenance(id: string, options?: CallOptions) {
    return this.request("get", "/v1/memories/{id}/provenance", { params: { path: { id } }, ...callInit(options) });
  }

  // ── cubes and sharing ──────────────────────────────────────────────────────────────────────────────────────────

  /** Creates a named cube for `user_id` or `agent_id`, addressed by `cube_id` from then on (names unique per owner). */
  createCube(body: Schemas["CreateCubeRequest"], options?: CallOptions) {
    return this.request("post", "/v1/cubes", { body, ...callInit(options) });
  }

  /** One cube the key reaches, with its `access`. */
  cube(cubeId: string, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}", { params: { path: { id: cubeId } }, ...callInit(options) });
  }

  /** One page of the cubes the key reaches (its owners' and those granted to them), newest first. */
  listCubes(query: ListCubesQuery = {}, options?: CallOptions) {
    return this.request("get", "/v1/cubes", { params: { query }, ...callInit(options) });
  }

  /** Every cube `listCubes` would return, page after page. */
  listAllCubes(query: Omit<ListCubesQuery, "cursor"> = {}, options?: CallOptions) {
    return everyItem((page) => this.listCubes({ ...query, ...page }, options));
  }

  /** Shares a cube: grants `user:<id>` or `agent:<id>` read or write access, replacing an earlier grant to them. */
  createGrant(cubeId: string, body: Schemas["CreateGrantRequest"], options?: CallOptions) {
    return this.request("post", "/v1/cubes/{id}/grants", { params: { path: { id: cubeId } }, body, ...callInit(options) });
  }

  /** One page of a cube's grants, by principal. */
  listGrants(cubeId: string, query: ListGrantsQuery = {}, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}/grants", { params: { path: { id: cubeId }, query }, ...callInit(options) });
  }

  /** Every grant `listGrants` would return, page after page. */
  listAllGrants(cubeId: string, query: Omit<ListGrantsQuery, "cursor"> = {}, options?: CallOptions) {
    return everyItem((page) => this.listGrants(cubeId, { ...query, ...page }, options));
  }

  /** Revokes a principal's grant (`user:<id>` or `agent:<id>`); it stops working on the next request. */
  revokeGrant(cubeId: string, principal: string, options?: CallOptions) {
    return this.request("delete", "/v1/cubes/{id}/grants/{principal}", {
      params: { path: { id: cubeId, principal } },
      ...callInit(options),
    });
  }

  // ── cubes: export, import, deletion ────────────────────────────────────────────────────────────────────────────

  /**
   * Starts exporting a whole cube, every state and version, into R2 (docs/export-format.md); `includeVectors` adds the
   * vectors. Always a job (202): a small cube's is `done` in the answer, a large one's is written on the cube's alarm —
   * `waitForExport` waits for either, then `downloadExport`, `streamExport` or `importIntoCube({ export_id })`.
   */
  exportCube(cubeId: string, { includeVectors = false }: { includeVectors?: boolean } = {}, options?: CallOptions) {
    const query = { include_vectors: includeVectors ? ("true" as const) : ("false" as const) };
    return this.request("post", "/v1/cubes/{id}/export", { params: { path: { id: cubeId }, query }, ...callInit(options) });
  }

  /**
   * Waits until an export started by `exportCube` is written: at once when it finished within its request, else by
   * polling its job (`waitForJob`). Throws when the job failed (its error in the message) or is still running after
   * `timeoutMs`; returns the answer with the finished job (`job.result.export`: bytes and counts).
   */
  async waitForExport(
    started: Schemas["ExportAccepted"],
    wait: { intervalMs?: number; timeoutMs?: number } = {},
    options?: CallOptions,
  ): Promise<Schemas["ExportAccepted"]> {
    const job = started.job.status === "done" ? started.job : await this.waitForJob(started.job_id, wait, options);
    if (job.status === "failed") throw new Error(`export ${started.export_id} failed: ${job.error ?? "unknown error"}`);
    return { ...started, status: job.status, job };
  }

  /** An export's file as text: JSONL, one JSON object per line (409 until its job is done). */
  async downloadExport(exportId: string, options?: CallOptions): Promise<string> {
    // Decoded here: the file is UTF-8 by its format, and workerd warns when `text()` reads an application/x-ndjson body.
    const params = { path: { id: exportId } };
    const bytes = await this.request("get", "/v1/exports/{id}", { params, parseAs: "arrayBuffer", ...callInit(options) });
    return new TextDecoder().decode(bytes);
  }

  /** An export's file as a byte stream, for one too large to hold in memory. */
  streamExport(exportId: string, options?: CallOptions) {
    return this.request("get", "/v1/exports/{id}", { params: { path: { id: exportId } }, parseAs: "stream", ...callInit(options) });
  }

  /**
   * Imports into a cube in the background: an export of this tenant by `export_id`, or an export file's text as
   * `file` (up to the 1 MB body limit). Memories get new ids here; importing the same file again returns the first job.
   */
  importIntoCube(cubeId: string, source: Schemas["ImportRequest"] | { file: string }, options?: CallOptions) {
    const params = { path: { id: cubeId } };
    if ("export_id" in source) return this.request("post", "/v1/cubes/{id}/import", { params, body: source, ...callInit(options) });
    return this.request("post", "/v1/cubes/{id}/import", {
      params,
      body: source.file,
      // The file goes as it is: NDJSON, not a JSON string.
      bodySerializer: () => source.file,
      ...callInit(options),
      headers: { ...options?.headers, "Content-Type": "application/x-ndjson" },
    });
  }

  /** Deletes a named cube everywhere (admin scope) and answers with a receipt; a default cube goes with its owner. */
  deleteCube(cubeId: string, options?: CallOptions) {
    return this.request("delete", "/v1/cubes/{id}", { params: { path: { id: cubeId } }, ...callInit(options) });
  }

  /** Deletes an owner (`user:<id>` or `agent:<id>`) with all their cubes and grants, on request (admin scope). */
  deleteOwner(owner: string, options?: CallOptions) {
    return this.request("delete", "/v1/owners/{owner}", { params: { path: { owner } }, ...callInit(options) });
  }

  // ── cube state and jobs ────────────────────────────────────────────────────────────────────────────────────────

  /** A cube's working memory: pins first, then what the scheduler keeps hot. */
  workingMemory(cubeId: string, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}/working-memory", { params: { path: { id: cubeId } }, ...callInit(options) });
  }

  /**
   * A cube's activation block: standing context (pins, instructions, preferences, often-used facts) whose bytes stay
   * the same until its content changes — put it first in a prompt so the provider's prefix cache keeps it.
   */
  activation(cubeId: string, query: { agent_id?: string } = {}, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}/activation", { params: { path: { id: cubeId }, query }, ...callInit(options) });
  }

  /**
   * Puts a stored version of the activation block back (as a new version), held until a new pinned memory,
   * instruction or preference arrives; `reason` is kept in the rollback's event.
   */
  rollbackActivation(cubeId: string, body: Schemas["ActivationRollbackRequest"], options?: CallOptions) {
    return this.request("post", "/v1/cubes/{id}/activation/rollback", { params: { path: { id: cubeId } }, body, ...callInit(options) });
  }

  /** The activation block's versions, newest first. */
  activationHistory(cubeId: string, query: { limit?: number } = {}, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}/activation/history", { params: { path: { id: cubeId }, query }, ...callInit(options) });
  }

  /** A cube's memories by state, pins, vectors, and bytes hot and cold. */
  cubeStats(cubeId: string, options?: CallOptions) {
    return this.request("get", "/v1/cubes/{id}/stats", { params: { path: { id: cubeId } }, ...callInit(options) });
  }

  /** Re-embeds a cube with the configured embedder, in the background. */
  reindex(cubeId: string, options?: CallOptions) {
    return this.request("post", "/v1/cubes/{id}/reindex", { params: { path: { id: cubeId } }, ...callInit(options) });
  }

  /** Starts a lifecycle job (consolidate, archive, expire, reindex) on one cube now. */
  startJob(body: Schemas["StartJobRequest"], options?: CallOptions) {
    return this.request("post", "/v1/jobs", { body, ...callInit(options) });
  }

  /** A background job's status, progress, attempts and error. */
  job(id: string, options?: CallOptions) {
    return this.request("get", "/v1/jobs/{id}", { params: { path: { id } }, ...callInit(options) });
  }

  /** Polls a job until it is done or failed; throws when it is still going after `timeoutMs` (default 60 s). */
  async waitForJob(id: string, { intervalMs = 500, timeoutMs = 60_000 } = {}, options?: CallOptions): Promise<Schemas["Job"]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.job(id, options);
      if (job.status === "done" || job.status === "failed") return job;
      if (Date.now() + intervalMs > deadline) throw new Error(`job ${id} is still ${job.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  // ── keys and the lifecycle hook (admin scope) ──────────────────────────────────────────────────────────────────

  /** Creates a key for the caller's tenant; the secret is in the answer, once. */
  createKey(body: Schemas["CreateKeyRequest"] = {}, options?: CallOptions) {
    return this.request("post", "/v1/keys", { body, ...callInit(options) });
  }

  /** The caller's tenant's keys (no secrets). */
  listKeys(options?: CallOptions) {
    return this.request("get", "/v1/keys", callInit(options));
  }

  /** Revokes one of the caller's tenant's keys. */
  revokeKey(keyId: string, options?: CallOptions) {
    return this.request("delete", "/v1/keys/{key_id}", { params: { path: { key_id: keyId } }, ...callInit(options) });
  }

  /** Creates or rotates the tenant's lifecycle hook secret (`whsec_…`, shown once; the old one stops verifying). */
  rotateLifecycleHookSecret(options?: CallOptions) {
    return this.request("post", "/v1/hooks/lifecycle/secret", callInit(options));
  }

  /**
   * Starts lifecycle jobs through the signed hook: no API key, the request is signed with the tenant's hook secret
   * (HMAC-SHA256 of `<timestamp>.<body>`, README "Lifecycle jobs and the signed hook").
   */
  async sendLifecycleHook(
    hook: { tenantId: string; secret: string; body: Schemas["LifecycleHookRequest"] },
    options?: CallOptions,
  ) {
    const raw = JSON.stringify(hook.body);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const encoder = new TextEncoder();
    const key = await crypto.subtle.importKey("raw", encoder.encode(hook.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${timestamp}.${raw}`)));
    const signature = `v1=${[...mac].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
    return this.request("post", "/v1/hooks/lifecycle", {
      params: { header: { "X-Memos-Tenant": hook.tenantId, "X-Memos-Timestamp": timestamp, "X-Memos-Signature": signature } },
      body: hook.body,
      // The signature covers these exact bytes.
      bodySerializer: () => raw,
      ...callInit(options),
      // The hook is authenticated by its signature; the API key has no business travelling with it.
      headers: { ...options?.headers, Authorization: null },
    });
  }

  // ── audit log (admin scope) ────────────────────────────────────────────────────────────────────────────────────

  /** One page of the tenant's audit log, newest first: who did what to which cube and memories, never content. */
  listAudit(query: AuditQuery = {}, options?: CallOptions) {
    return this.request("get", "/v1/audit", { params: { query }, ...callInit(options) });
  }

  /** Every entry `listAudit` would return, page after page. */
  listAllAudit(query: Omit<AuditQuery, "cursor"> = {}, options?: CallOptions) {
    return everyItem((page) => this.listAudit({ ...query, ...page }, options));
  }

  /** Liveness; needs no key. */
  health(options?: CallOptions) {
    return this.request("get", "/health", callInit(options));
  }

  // ── namespaces ─────────────────────────────────────────────────────────────────────────────────────────────────

  /** Outbound webhooks: endpoints, signing secrets, the delivery log (admin scope). */
  readonly webhooks = webhookMethods(this);

  /** Tenant administration with the root key. */
  readonly admin = adminMethods(this);
}
