/**
 * One isolate's bookkeeping sends, coalesced (docs/hot-path.md, "Fifth pass"): the items of requests that finish
 * within {@link COALESCE_MS} of the first leave together, packed into as few messages as Queues' limits allow, instead
 * of one `sendBatch` per request.
 *
 * Why: every send is a call to the queue and a message its consumer reads. Locally that call was a quarter of a
 * single-memory write's CPU in the Worker's process (miniflare's broker validates, stores and logs each one on the same
 * thread); in production it is one queue operation per request against a queue that takes ~5,000 messages a second
 * (docs/scale.md), so one message per request capped the whole API near that rate.
 *
 * The cost: an item waits in the isolate's memory up to {@link COALESCE_MS} longer before it is sent, so an isolate
 * that dies in that window loses the items of the requests it holds (before, the window was one turn of the event
 * loop and the send). Every request whose items wait keeps its `waitUntil` open on the flush that carries them, so
 * the runtime keeps the isolate until the send is done; a failed send reaches each of those requests' callers.
 */
import { sendItemsWithinLimits, type QueueSender } from "../adapters/queue-producer";

/** How long the first item of a flush waits for others (ms): a few requests' worth at a busy isolate's rate. */
export const COALESCE_MS = 50;
/** A flush leaves at once when it holds this many items (a batch's worth), whatever the time. */
export const COALESCE_MAX_ITEMS = 100;

/** The items one flush will send, and the promise its requests hold until it has been sent. */
interface Flush<Item> {
  items: Item[];
  sent: Promise<void>;
  settle: { resolve: () => void; reject: (error: unknown) => void };
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Coalesces one queue's sends: items wait for the open flush, which leaves after COALESCE_MS or when full. */
class CoalescingSender<Item> {
  private open: Flush<Item> | null = null;

  constructor(private readonly queue: QueueSender<Item[]>) {}

  /** Adds items to the open flush; resolves when that flush has been sent (rejects when it failed). */
  send(items: readonly Item[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    const flush = (this.open ??= this.startFlush());
    flush.items.push(...items);
    if (flush.items.length >= COALESCE_MAX_ITEMS) this.leave(flush);
    return flush.sent;
  }

  private startFlush(): Flush<Item> {
    let settle!: Flush<Item>["settle"];
    const sent = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const flush: Flush<Item> = { items: [], sent, settle, timer: undefined };
    flush.timer = setTimeout(() => this.leave(flush), COALESCE_MS);
    return flush;
  }

  private leave(flush: Flush<Item>): void {
    if (this.open === flush) this.open = null;
    clearTimeout(flush.timer);
    sendItemsWithinLimits(this.queue, flush.items).then(() => flush.settle.resolve(), flush.settle.reject);
  }
}

const senders = new WeakMap<object, CoalescingSender<unknown>>();

/** The isolate's coalescing sender for a queue binding (one per binding object). */
export function coalescedSend<Item>(queue: QueueSender<Item[]>, items: readonly Item[]): Promise<void> {
  let sender = senders.get(queue) as CoalescingSender<Item> | undefined;
  if (!sender) {
    sender = new CoalescingSender(queue);
    senders.set(queue, sender as CoalescingSender<unknown>);
  }
  return sender.send(items);
}
