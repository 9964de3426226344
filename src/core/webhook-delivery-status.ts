/**
 * The states of a webhook delivery: `dead` is the dead-letter record, left after the last attempt failed. A leaf
 * module so the wire schema (src/schemas/webhooks.ts) and the table (src/db/schema.ts) share it without the wire
 * layer importing the database module.
 */
export const WEBHOOK_DELIVERY_STATUSES = ["queued", "delivered", "failed", "dead"] as const;
