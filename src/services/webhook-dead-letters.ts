/**
 * The webhook queue's dead-letter queue (wrangler.toml: `dead_letter_queue` of the webhook consumer, and a consumer
 * of its own). Without it, a message that reached `max_retries` was deleted for good (issue 17, item 4).
 *
 * - `events`: nothing in D1 names these events yet, so they would be lost: fanned out once more (rows are unique
 *   per webhook and event, so a partial earlier fan-out delivers nothing twice); while that keeps failing the
 *   message is retried on this queue with backoff, and every failure logs the whole message so it can be replayed.
 * - `delivery`: the delivery row is in D1 already; the cron's sweep re-sends a queued or failed delivery whose
 *   message was lost (sweepWebhookDeliveries), and a dead one is listed and replayable through the API. Acked.
 */
import type { Deps } from "./context";
import { consumeWebhookBatch, retryDelaySeconds } from "./webhook-delivery";
import type { WebhookDeps } from "./webhooks";

/** The dead-letter queue's name: the same string as `dead_letter_queue` in wrangler.toml. */
export const WEBHOOK_DEAD_LETTER_QUEUE = "memos-edge-webhooks-dlq";

export async function drainWebhookDeadLetters(batch: MessageBatch<unknown>, deps: Deps, hooks: WebhookDeps): Promise<void> {
  const events = batch.messages.filter((message) => kindOf(message.body) === "events");
  for (const message of batch.messages) if (kindOf(message.body) !== "events") message.ack();
  if (events.length === 0) return;
  // The main consumer's fan-out, message by message: ack on success, retry with backoff on failure.
  const tracked = events.map((message) => ({
    body: message.body,
    id: message.id,
    timestamp: message.timestamp,
    attempts: message.attempts,
    ack: () => message.ack(),
    retry: (options?: QueueRetryOptions) => {
      console.error(`webhook dead letters: events message ${message.id} failed again (attempt ${message.attempts}): ${JSON.stringify(message.body)}`);
      message.retry(options ?? { delaySeconds: retryDelaySeconds(message.attempts) });
    },
  }));
  await consumeWebhookBatch({ ...batch, messages: tracked } as MessageBatch<unknown>, deps, hooks);
}

function kindOf(body: unknown): unknown {
  return typeof body === "object" && body !== null ? (body as { kind?: unknown }).kind : undefined;
}
