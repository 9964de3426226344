/**
 * The cube's webhook outbox. Every change in a cube is already a row of its `events` table, written in the same
 * transaction as the change; the outbox keeps a cursor into that log and hands what is new to the webhook queue,
 * moving the cursor only after the queue accepted it. A crash between the two re-sends the same events with the same
 * ids (at-least-once); the consumer keeps one delivery per (webhook, event id), so nothing is delivered twice for it.
 *
 * Events are mapped to the public webhook types here and carry ids, states and reasons — never memory content.
 */
import { sendWithinLimits } from "../../src/adapters/queue-producer";
import { WEBHOOK_EVENT_QUEUES, tenantShardedSender } from "../../src/adapters/queue-shards";
import { toIso } from "../../src/core/time";
import type { WebhookEventType, WebhookEventWire, WebhookQueueMessage } from "../../src/schemas/webhooks";
import type { CubeRef } from "./protocol";

type Row = Record<string, SqlStorageValue>;

/** Cube events one drain round reads. */
export const OUTBOX_PAGE = 500;
/** Rounds one drain runs before it leaves the rest to the next drain (it reports `more`). */
export const OUTBOX_MAX_ROUNDS = 4;
/** Events packed into one queue message (small: ids and reasons only, ~0.5 KB each; a message may hold 128 KB). */
export const OUTBOX_EVENTS_PER_MESSAGE = 20;

/** The cube's own event types and the webhook type each one is published as; the others stay internal. */
const PUBLISHED: Readonly<Record<string, WebhookEventType>> = {
  "memory.created": "memory.created",
  "memory.updated": "memory.updated",
  "memory.rolled_back": "memory.updated",
  // A consolidation survivor gains the merged duplicates' tags and provenance: a new version of it.
  "memory.absorbed": "memory.updated",
  "memory.superseded": "memory.superseded",
  // A merge is the consolidation form of supersession: the memory leaves reads and names its survivor.
  "memory.merged": "memory.superseded",
  "memory.forgotten": "memory.forgotten",
  "memory.purged": "memory.forgotten",
  "memory.expired": "memory.expired",
  "memory.archived": "memory.archived",
  "job.completed": "job.completed",
  "job.failed": "job.failed",
};

/** What a drain did: events handed to the queue, whether more are waiting, and the error that stopped it. */
export interface DrainResult {
  sent: number;
  more: boolean;
  error: string | null;
}

/**
 * Where a drain sends: the Worker's env, or anything with the webhook queue's shard bindings (`WEBHOOK_EVENTS`,
 * `WEBHOOK_EVENTS_1` …; src/adapters/queue-shards.ts). A cube's events go to its tenant's shard.
 */
export type OutboxTarget = object;

/**
 * Set in a MemStore snapshot cube (services/memstore.ts) when its snapshot is handed to it: a cube of the publisher's
 * tenant that no route shows, whose import and lifecycle (expiry, archiving) are MemStore's housekeeping. Its events
 * stay in its own log and never reach the publisher's webhooks, which know the publication by the source cube's
 * `snapshot` job (docs/memstore.md, "Webhooks").
 */
const INTERNAL_KEY = "outbox.internal";

export class CubeOutbox {
  /** The drain under way: a second caller waits for it, so two drains never race the cursor. */
  private draining: Promise<DrainResult> | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly kv: SyncKvStorage,
  ) {}

  /** From now on this cube's events are internal: drains move the cursor past them and send nothing. */
  keepInternal(): void {
    this.kv.put(INTERNAL_KEY, true);
  }

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /** The seq of the last event handed to the queue, and the storage's epoch (part of every event id). */
  cursor(): { lastSeq: number; epoch: string } {
    const row = this.exec("SELECT last_seq, epoch FROM webhook_outbox WHERE id = 1")[0];
    if (!row) throw new Error("webhook_outbox is missing: the cube's migrations have not run");
    return { lastSeq: Number(row.last_seq), epoch: String(row.epoch) };
  }

  /**
   * Up to `limit` cube events after `afterSeq`, mapped to webhook events (internal ones are left out), and the seq
   * of the last event looked at, which the cursor may move to once the mapped ones are sent.
   */
  eventsAfter(ref: CubeRef, afterSeq: number, limit = OUTBOX_PAGE): { events: WebhookEventWire[]; through: number } {
    const { epoch } = this.cursor();
    const rows = this.exec(
      "SELECT seq, at, type, memory_id, version, actor, request_id, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
      afterSeq,
      limit,
    );
    const events = rows.flatMap((row) => {
      const event = toWebhookEvent(ref, epoch, row);
      return event ? [event] : [];
    });
    return { events, through: rows.length > 0 ? Number(rows.at(-1)!.seq) : afterSeq };
  }

  /** The events not yet handed to the queue. */
  pending(ref: CubeRef, limit = OUTBOX_PAGE): { events: WebhookEventWire[]; through: number } {
    return this.eventsAfter(ref, this.cursor().lastSeq, limit);
  }

  /**
   * Sends new events to the webhook queue and advances the cursor after each accepted send. Never throws: it runs
   * after changes that have already committed, so a queue outage must not fail them; the events stay in the log and
   * the next drain sends them. `more` says the drain stopped at its bound with events left.
   */
  drain(target: OutboxTarget, ref: CubeRef): Promise<DrainResult> {
    const previous = this.draining;
    const run = (async () => {
      if (previous) await previous;
      return this.drainNow(target, ref);
    })();
    this.draining = run;
    void run.finally(() => {
      if (this.draining === run) this.draining = null;
    });
    return run;
  }

  private async drainNow(target: OutboxTarget, ref: CubeRef): Promise<DrainResult> {
    let sent = 0;
    try {
      if (this.kv.get(INTERNAL_KEY) === true) {
        // Past everything logged so far, so the upkeep may prune it as it prunes sent events.
        this.exec("UPDATE webhook_outbox SET last_seq = max(last_seq, (SELECT coalesce(max(seq), 0) FROM events)) WHERE id = 1");
        return { sent, more: false, error: null };
      }
      const queue = tenantShardedSender<WebhookQueueMessage>(target, WEBHOOK_EVENT_QUEUES);
      if (!queue) throw new Error("the WEBHOOK_EVENTS queue bindings are missing; webhook events wait in the cube's event log");
      for (let round = 0; round < OUTBOX_MAX_ROUNDS; round++) {
        const { events, through } = this.pending(ref);
        if (through === this.cursor().lastSeq) return { sent, more: false, error: null };
        // Grouped into sendBatch calls within Queues' limits (100 messages, 256 KB) by the producer wrapper.
        await sendWithinLimits(queue, outboxMessages(ref.tenantId, events));
        // max(): a cursor only moves forward, whatever order concurrent callers finish in.
        this.exec("UPDATE webhook_outbox SET last_seq = max(last_seq, ?) WHERE id = 1", through);
        sent += events.length;
      }
      return { sent, more: this.pending(ref, 1).through !== this.cursor().lastSeq, error: null };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      console.error(`webhook outbox of ${ref.cubeId}: ${message}`);
      return { sent, more: true, error: message };
    }
  }
}

/** Queue messages of at most OUTBOX_EVENTS_PER_MESSAGE events each. */
function outboxMessages(tenantId: string, events: WebhookEventWire[]): MessageSendRequest<WebhookQueueMessage>[] {
  const messages: MessageSendRequest<WebhookQueueMessage>[] = [];
  for (let i = 0; i < events.length; i += OUTBOX_EVENTS_PER_MESSAGE) {
    messages.push({ body: { kind: "events", tenant_id: tenantId, events: events.slice(i, i + OUTBOX_EVENTS_PER_MESSAGE) }, contentType: "json" });
  }
  return messages;
}

/**
 * The webhook event of one row of a cube's event log, or null for events that stay internal (pins, duplicates
 * ignored, restores…). The id is stable — `evt_<cube>_<epoch>_<seq>` — so every re-send carries the same one.
 */
export function toWebhookEvent(ref: CubeRef, epoch: string, row: Row): WebhookEventWire | null {
  const sourceType = String(row.type);
  const type = PUBLISHED[sourceType];
  if (!type) return null;
  const stored = parseData(row.data);
  // History copied by an import keeps its original events for provenance; it did not happen in this cube now.
  if (stored.imported_from !== undefined) return null;
  const common = { actor: String(row.actor), request_id: row.request_id == null ? null : String(row.request_id) };
  let data: Record<string, unknown>;
  if (type === "job.completed" || type === "job.failed") {
    data = { job_id: stored.job_id ?? null, job_type: stored.job_type ?? null, error: stored.error ?? null, ...common };
  } else {
    data = {
      memory_id: row.memory_id == null ? null : String(row.memory_id),
      version: row.version == null ? null : Number(row.version),
      change: sourceType.slice("memory.".length),
      reason: typeof stored.reason === "string" ? stored.reason : null,
      from: stored.from ?? null,
      to: stored.to ?? null,
      ...common,
    };
    const successor = stored.successor ?? stored.survivor;
    if (typeof successor === "string") data.superseded_by = successor;
    if (typeof stored.rolled_back_to === "number") data.rolled_back_to = stored.rolled_back_to;
    if (Array.isArray(stored.merged)) data.merged = stored.merged;
    if (sourceType === "memory.purged") data.hard = true;
  }
  return {
    id: `evt_${ref.cubeId.slice("cube_".length)}_${epoch}_${Number(row.seq)}`,
    type,
    created_at: toIso(Number(row.at)),
    tenant_id: ref.tenantId,
    cube_id: ref.cubeId,
    owner: ref.owner,
    data,
  };
}

function parseData(value: SqlStorageValue | undefined): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(String(value ?? "{}"));
    return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
