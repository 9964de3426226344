/**
 * The vectors queue's consumer (issue 17, item 8; the producer side is adapters/vector-queue.ts): the vectors many
 * cubes handed it go to the shared index together — up to 100 messages a batch, 1,000 vectors an upsert, each vector
 * in its own cube's namespace — and each cube is told which of its vectors went with which mutation, so it confirms
 * them with `describe()` and reads them back exactly as if it had sent them (cube/remote-vectors.ts).
 *
 * At least once, and idempotent: an upsert of the same vector again changes nothing, and a cube ignores a report
 * about vectors it re-queued or took back since (`handed_at` must match). A failed upsert retries its messages with
 * backoff (30 s × 2^(attempt − 1), at most 30 min, like the cubes' own); a cube that cannot be told retries its
 * messages only. A vector whose memory was purged (or whose cube was destroyed) while its message waited is deleted
 * again right after the upsert: the cube's own delete may have run first. A message that never gets through (max_retries, then the dead-letter queue) costs nothing but
 * time: its cube takes the vectors back REPUSH_AFTER_MS after handing them and sends them again.
 */
import { type VectorQueueMessage, decodeVector } from "../adapters/vector-queue";
import type { NamespacedVectorRecord, UpsertReceipt, VectorIndex } from "../adapters/types";
import type { CubeDurableObject } from "../../durable-objects/cube";
import { cubeObjectName } from "../core/ids";

/** Re-delivery delay of a message whose upsert failed on its n-th attempt. */
export const VECTOR_RETRY_FIRST_SECONDS = 30;
export const VECTOR_RETRY_MAX_SECONDS = 30 * 60;

/** What one batch did: for logs and tests. */
export interface VectorBatchReport {
  vectors: number;
  cubesTold: number;
  /** Vectors upserted for memories their cube no longer holds, deleted again. */
  orphansDeleted: number;
  retried: number;
  dropped: number;
}

interface Parsed {
  message: Message<unknown>;
  body: VectorQueueMessage;
  records: NamespacedVectorRecord[];
}

export const retryDelaySeconds = (attempts: number) =>
  Math.min(VECTOR_RETRY_FIRST_SECONDS * 2 ** Math.max(0, attempts - 1), VECTOR_RETRY_MAX_SECONDS);

/** See the file comment. `now` stamps the reports (the cubes check the vectors from then on). */
export async function consumeVectorBatch(
  batch: MessageBatch<unknown>,
  index: VectorIndex | null,
  cubes: DurableObjectNamespace<CubeDurableObject>,
  now: () => number = Date.now,
): Promise<VectorBatchReport> {
  const report: VectorBatchReport = { vectors: 0, cubesTold: 0, orphansDeleted: 0, retried: 0, dropped: 0 };
  const parsed: Parsed[] = [];
  for (const message of batch.messages) {
    const one = parse(message);
    if (one) parsed.push(one);
    else {
      // Never writable: acknowledged, and its cube takes the vectors back in time.
      console.error(`vectors queue: dropped message ${message.id} of unknown shape`);
      message.ack();
      report.dropped++;
    }
  }
  if (!index) {
    console.error("vectors queue: no shared index is configured (VECTOR_INDEX); messages dropped, their cubes take them back");
    for (const one of parsed) one.message.ack();
    report.dropped += parsed.length;
    return report;
  }

  // One embedding space per group: an index refuses a whole call with a vector of the wrong dimension.
  const groups = new Map<string, Parsed[]>();
  for (const one of parsed) groups.set(one.body.embedder, [...(groups.get(one.body.embedder) ?? []), one]);
  for (const group of groups.values()) {
    const records = group.flatMap((one) => one.records);
    let receipt: UpsertReceipt | void = undefined;
    try {
      receipt = await upsert(index, records);
    } catch (error) {
      console.error("vectors queue: the shared index refused an upsert; its messages are retried with backoff", error);
      for (const one of group) one.message.retry({ delaySeconds: retryDelaySeconds(one.message.attempts) });
      report.retried += group.length;
      continue;
    }
    report.vectors += records.length;
    const sentAt = now();
    // One report per cube and hand-off (a cube's messages of one hand-off share `handed_at`).
    const byCube = new Map<string, Parsed[]>();
    for (const one of group) {
      const key = JSON.stringify([one.body.tenant_id, one.body.cube_id, one.body.handed_at]);
      byCube.set(key, [...(byCube.get(key) ?? []), one]);
    }
    await Promise.all(
      [...byCube.values()].map(async (messages) => {
        const { tenant_id, cube_id, handed_at } = messages[0]!.body;
        const ids = messages.flatMap((one) => one.records.map((r) => r.id));
        try {
          const cube = cubes.getByName(cubeObjectName(tenant_id, cube_id));
          const { orphans } = await cube.vectorsSent(ids, handed_at, sentAt, receipt?.mutationId ?? null);
          // Purged or destroyed while the message waited: the cube's own delete may have come before this upsert.
          if (orphans.length > 0) await index.delete(cube_id, orphans);
          report.orphansDeleted += orphans.length;
          for (const one of messages) one.message.ack();
          report.cubesTold++;
        } catch (error) {
          // Upserted but not recorded: sent again on the retry (the same vectors: nothing changes in the index).
          console.error("vectors queue: telling a cube its vectors were sent failed; retried", error);
          for (const one of messages) one.message.retry({ delaySeconds: retryDelaySeconds(one.message.attempts) });
          report.retried += messages.length;
        }
      }),
    );
  }
  console.log(JSON.stringify({ event: "vector_queue", ...report }));
  return report;
}

/** Through `upsertAcross` when the index has it (one call per 1,000 vectors), else one upsert per namespace. */
async function upsert(index: VectorIndex, records: NamespacedVectorRecord[]): Promise<UpsertReceipt | void> {
  if (index.upsertAcross) return index.upsertAcross(records);
  const byNamespace = new Map<string, NamespacedVectorRecord[]>();
  for (const record of records) byNamespace.set(record.namespace, [...(byNamespace.get(record.namespace) ?? []), record]);
  let receipt: UpsertReceipt | void = undefined;
  for (const [namespace, list] of byNamespace) receipt = (await index.upsert(namespace, list)) ?? receipt;
  return receipt;
}

/** A well-formed message with its vectors decoded, or null. */
function parse(message: Message<unknown>): Parsed | null {
  const body = message.body as Partial<VectorQueueMessage> | null;
  const isText = (v: unknown): v is string => typeof v === "string" && v !== "";
  if (typeof body !== "object" || body === null || !isText(body.tenant_id) || !isText(body.cube_id) || !isText(body.embedder)) return null;
  if (!Number.isSafeInteger(body.handed_at) || !Array.isArray(body.vectors) || body.vectors.length === 0) return null;
  const records: NamespacedVectorRecord[] = [];
  let dimensions: number | null = null;
  for (const entry of body.vectors as unknown[]) {
    const { id, v } = (entry ?? {}) as { id?: unknown; v?: unknown };
    if (!isText(id) || !isText(v)) return null;
    let vector: Float32Array;
    try {
      vector = decodeVector(v);
    } catch {
      return null;
    }
    if (vector.length === 0 || (dimensions !== null && vector.length !== dimensions)) return null;
    dimensions = vector.length;
    records.push({ id, vector, namespace: body.cube_id });
  }
  return { message, body: body as VectorQueueMessage, records };
}
