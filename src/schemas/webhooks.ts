/**
 * Wire types of outbound webhooks: the management API, the delivery log, the event every delivery carries as its
 * body, and the messages of the webhook queue.
 */
import { z } from "@hono/zod-openapi";
import { WEBHOOK_DELIVERY_STATUSES } from "../core/webhook-delivery-status";
import { Timestamp } from "./common";
import { LIMITS } from "./limits";

/** What a webhook can subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  "memory.created",
  "memory.updated",
  "memory.superseded",
  "memory.forgotten",
  "memory.expired",
  "memory.archived",
  "job.completed",
  "job.failed",
  "owner.deleted",
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Webhooks one tenant may register. */
export const MAX_WEBHOOKS_PER_TENANT = 20;
/** Longest endpoint URL. */
export const WEBHOOK_URL_MAX_CHARS = 2048;

export const WebhookEventTypeField = z.enum(WEBHOOK_EVENT_TYPES).openapi("WebhookEventType", {
  description:
    "`memory.created`; `memory.updated` (also a rollback, or a survivor absorbing merged duplicates); `memory.superseded` " +
    "(also a merge into a near-duplicate); `memory.forgotten` (soft delete, or a purge with `data.hard: true`); " +
    "`memory.expired`; `memory.archived`; `job.completed`; `job.failed`; `owner.deleted`.",
});

/**
 * The body of every delivery. It never carries memory content: fetch the memory by `data.memory_id` with an API key
 * when the text is needed (it may have changed, or be gone, by then).
 */
export const WebhookEvent = z
  .object({
    id: z.string().openapi({
      description: "Stable across retries and replays of this event: receivers de-duplicate by it (also sent as `X-Memos-Event-Id`).",
      example: "evt_0123456789abcdef_1a2b3c4d_42",
    }),
    type: WebhookEventTypeField,
    created_at: Timestamp.openapi({ description: "When it happened." }),
    tenant_id: z.string().openapi({ example: "ten_0123456789abcdef" }),
    cube_id: z.string().nullable().openapi({ description: "The cube it happened in (null for `owner.deleted`)." }),
    owner: z.string().nullable().openapi({ description: "The cube's owner, `user:<id>` or `agent:<id>`.", example: "user:alice" }),
    data: z.record(z.string(), z.unknown()).openapi({
      description:
        "Memory events: `memory_id`, `version`, `change` (the cube's own change: created, updated, rolled_back, absorbed, " +
        "superseded, merged, forgotten, purged, expired, archived), `reason`, `from`/`to` states, `actor`, `request_id` and " +
        "`superseded_by`, `rolled_back_to` or `hard` where they apply. Job events: `job_id`, `job_type`, `error`. " +
        "`owner.deleted`: what the deletion reports.",
    }),
  })
  .openapi("WebhookEvent");
export type WebhookEventWire = z.infer<typeof WebhookEvent>;

const WebhookUrl = z
  .string()
  .min(1)
  .max(WEBHOOK_URL_MAX_CHARS)
  .openapi({
    description:
      "Where deliveries are POSTed. `https` only, and no private, loopback, link-local or unique-local address, " +
      "`localhost`, `*.local` or `*.internal` host — unless ENVIRONMENT is `local`, where `http` and local hosts are allowed " +
      "for testing against a local receiver.",
    example: "https://example.com/hooks/memos",
  });

const EventList = z
  .array(WebhookEventTypeField)
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length * 2)
  .openapi({ description: "The event types to deliver; duplicates count once." });

export const CreateWebhookRequest = z.object({ url: WebhookUrl, events: EventList }).strict().openapi("CreateWebhookRequest");
export type CreateWebhookWire = z.infer<typeof CreateWebhookRequest>;

export const Webhook = z
  .object({
    id: z.string().openapi({ example: "whk_0123456789abcdef" }),
    url: z.string(),
    events: z.array(WebhookEventTypeField),
    secret_prefix: z.string().openapi({ description: "First characters of the signing secret, to recognise it.", example: "whsec_01234567" }),
    created_at: Timestamp,
    secret_created_at: Timestamp.openapi({ description: "When the current secret was created (at registration or the last rotation)." }),
  })
  .openapi("Webhook");
export type WebhookWire = z.infer<typeof Webhook>;

export const WebhookWithSecret = Webhook.extend({
  secret: z.string().openapi({
    description: "The signing secret (`whsec_…`). Shown once; stored encrypted. Deliveries are signed with it from now on.",
    example: "whsec_0123456789abcdefghjkmnpqrstvwxyz0123456",
  }),
}).openapi("WebhookWithSecret");
export type WebhookWithSecretWire = z.infer<typeof WebhookWithSecret>;

export const WebhookList = z.object({ data: z.array(Webhook) }).openapi("WebhookList");

export const WebhookIdParam = z.object({
  id: z.string().max(64).openapi({ param: { name: "id", in: "path" }, example: "whk_0123456789abcdef" }),
});

export const DeliveryParams = WebhookIdParam.extend({
  delivery_id: z.string().max(64).openapi({ param: { name: "delivery_id", in: "path" }, example: "dlv_0123456789abcdef" }),
});

export const DeliveryStatusField = z.enum(WEBHOOK_DELIVERY_STATUSES).openapi({
  description:
    "`queued`: waiting for its first attempt. `failed`: an attempt failed, the next is scheduled (`next_attempt_at`). " +
    "`delivered`: the endpoint answered 2xx. `dead`: the last attempt failed (the dead-letter record); replay it to try again.",
});

export const ListDeliveriesQuery = z.object({
  status: DeliveryStatusField.optional(),
  limit: z.coerce.number().int().min(1).max(LIMITS.pageSize).default(20).openapi({ description: `1–${LIMITS.pageSize}, default 20.` }),
  cursor: z.string().max(300).optional().openapi({ description: "`next_cursor` of the previous page." }),
});

export const WebhookDelivery = z
  .object({
    id: z.string().openapi({ example: "dlv_0123456789abcdef" }),
    webhook_id: z.string(),
    event_id: z.string(),
    event_type: WebhookEventTypeField,
    status: DeliveryStatusField,
    attempts: z.int().openapi({ description: "HTTP attempts in the current round (a replay starts again at 0)." }),
    last_status_code: z.int().nullable().openapi({ description: "HTTP status of the last attempt; null when it got no answer." }),
    last_error: z.string().nullable().openapi({ description: "Why the last attempt failed." }),
    next_attempt_at: Timestamp.nullable().openapi({ description: "When the next attempt is due (queued and failed deliveries)." }),
    delivered_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
    event: WebhookEvent.openapi({ description: "The body sent (and signed) on every attempt." }),
  })
  .openapi("WebhookDelivery");
export type WebhookDeliveryWire = z.infer<typeof WebhookDelivery>;

export const WebhookDeliveryPage = z
  .object({ data: z.array(WebhookDelivery), next_cursor: z.string().nullable() })
  .openapi("WebhookDeliveryPage");

/**
 * A message on the webhook queue. `events`: new events of one tenant, from a cube's outbox or from the Worker
 * (`owner.deleted`); the consumer fans each out into one delivery per subscribed webhook. `delivery`: one attempt
 * at one delivery, retried on its own with backoff, so a failing endpoint never holds back the others.
 */
export type WebhookQueueMessage =
  | { kind: "events"; tenant_id: string; events: WebhookEventWire[] }
  /** `tenant_id` picks the queue shard (src/adapters/queue-shards.ts); the consumer reads the delivery's row. */
  | { kind: "delivery"; delivery_id: string; tenant_id?: string };

/** The producer side of the webhook queue that the outbox, the Worker and the consumer use. */
export interface WebhookQueue {
  sendBatch(messages: Iterable<MessageSendRequest<WebhookQueueMessage>>): Promise<unknown>;
}
