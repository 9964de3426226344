/**
 * The shape every part of the client is written against: the API's wire types and the one typed `request()` that
 * reaches any operation. `client.ts` implements it; the namespaces (`admin.ts`, `webhooks.ts`) take it as an
 * argument, so no module imports the client class and the modules form no cycle.
 */
import type { FetchResponse, MaybeOptionalInit } from "openapi-fetch";
import type { HttpMethod, MediaType, PathsWithMethod, RequiredKeysOf } from "openapi-typescript-helpers";
import type { components, paths } from "./schema.js";

/** The API's wire types by name: `Schemas["Memory"]`, `Schemas["SearchRequest"]`, … */
export type Schemas = components["schemas"];
export type Memory = Schemas["Memory"];

/** What `request()` accepts on top of openapi-fetch's options. */
export interface RequestExtras {
  idempotencyKey?: string;
  /**
   * Whether the call may be sent again after a 5xx or a failure without answer. Default: true for GET and HEAD and
   * for writes whose route declares Idempotency-Key in the OpenAPI document, false otherwise.
   */
  repeatable?: boolean;
}

export type InitParam<Init> = RequiredKeysOf<Init> extends never ? [(Init & RequestExtras)?] : [Init & RequestExtras];

/** The success body of an operation (the union of its 2xx bodies; a string, Blob, … with `parseAs`). */
export type ResponseData<P extends keyof paths, M extends HttpMethod, Init = object> = NonNullable<
  FetchResponse<paths[P][M] & Record<string | number, unknown>, Init, MediaType>["data"]
>;

/**
 * Any operation of the API, typed by its path template. Resolves to the success body; rejects with `MemosApiError`
 * for an error status and `MemosNetworkError` when no answer came.
 */
export interface ApiRequester {
  request<M extends HttpMethod, P extends PathsWithMethod<paths, M>, Init extends MaybeOptionalInit<paths[P], M>>(
    method: M,
    path: P,
    ...init: InitParam<Init>
  ): Promise<ResponseData<P, M, Init>>;
}
