/**
 * `client.webhooks`: outbound webhooks (admin scope, a key not confined to owners or cubes). The repository README,
 * section "Webhooks", shows how a receiver verifies a delivery's signature.
 */
import type { ApiRequester, Schemas } from "./request.js";
import { type CallOptions, callInit, everyItem } from "./calls.js";
import type { paths } from "./schema.js";

/** The query of GET /v1/webhooks/{id}/deliveries. */
export type ListDeliveriesQuery = NonNullable<paths["/v1/webhooks/{id}/deliveries"]["get"]["parameters"]["query"]>;

/** A tenant's webhook endpoints, their signing secrets and their delivery log. Arrow functions, as in `client.admin`. */
export function webhookMethods(client: ApiRequester) {
  const listDeliveries = (webhookId: string, query: ListDeliveriesQuery = {}, options?: CallOptions) =>
    client.request("get", "/v1/webhooks/{id}/deliveries", { params: { path: { id: webhookId }, query }, ...callInit(options) });
  return {
    /** Registers an endpoint for event types; its signing secret (`whsec_…`) is in the answer, once. */
    create: (body: Schemas["CreateWebhookRequest"], options?: CallOptions) =>
      client.request("post", "/v1/webhooks", { body, ...callInit(options) }),
    /** The tenant's webhooks, newest first (no secrets). */
    list: (options?: CallOptions) => client.request("get", "/v1/webhooks", callInit(options)),
    /** Deletes a webhook and its delivery log; nothing more is delivered to it. */
    delete: (webhookId: string, options?: CallOptions) =>
      client.request("delete", "/v1/webhooks/{id}", { params: { path: { id: webhookId } }, ...callInit(options) }),
    /** Replaces the signing secret (shown once); the old one stops signing at once, retries of earlier deliveries included. */
    rotateSecret: (webhookId: string, options?: CallOptions) =>
      client.request("post", "/v1/webhooks/{id}/rotate-secret", { params: { path: { id: webhookId } }, ...callInit(options) }),
    /** One page of a webhook's deliveries, newest first; `status: "dead"` lists the dead-letter records. */
    listDeliveries,
    /** Every delivery `listDeliveries` would return, page after page. */
    listAllDeliveries: (webhookId: string, query: Omit<ListDeliveriesQuery, "cursor"> = {}, options?: CallOptions) =>
      everyItem((page) => listDeliveries(webhookId, { ...query, ...page }, options)),
    /** Sends a delivered or dead delivery again: a new round of attempts with the same event id (202, queued). */
    replayDelivery: (webhookId: string, deliveryId: string, options?: CallOptions) =>
      client.request("post", "/v1/webhooks/{id}/deliveries/{delivery_id}/replay", {
        params: { path: { id: webhookId, delivery_id: deliveryId } },
        ...callInit(options),
      }),
  };
}

/** The methods of `client.webhooks`. */
export type Webhooks = ReturnType<typeof webhookMethods>;
