/**
 * Ids due for a background refresh, gathered per group (a tenant) so that one call refreshes a window's worth of them
 * (issue 14, item 3: an isolate keeping 10,000 cubes of a tenant busy called the tenant's object once per cube every
 * 30 s, ~333 calls/s to one object). The first due id opens its group's batch; the first request of the group at
 * least `windowMs` later takes the whole batch and refreshes it in its own background.
 *
 * Only ids are held, never a promise: workerd ties a promise to the request whose I/O settles it, and refuses another
 * request that waits on it (docs/hot-path.md, "Changed, then reverted"). An id dropped because its batch is full, or
 * a batch no request comes back for, is not lost: its cache entry expires and is read before the next answer.
 */
export class RefreshBatches<G, K> {
  /** By group, oldest batch first. */
  private readonly batches = new Map<G, { openedAt: number; ids: Set<K> }>();

  constructor(private readonly options: { windowMs: number; maxIdsPerBatch: number; maxBatches: number }) {}

  /**
   * Adds `ids` to the group's batch; answers the whole batch (now taken: the caller refreshes it) when it has been
   * open `windowMs`, else nothing. Call it on every use of the group, with no ids too: a due batch leaves then.
   */
  take(group: G, ids: readonly K[], now: number): K[] {
    let batch = this.batches.get(group);
    if (!batch) {
      if (ids.length === 0) return [];
      if (this.batches.size >= this.options.maxBatches) this.batches.delete(this.batches.keys().next().value!);
      batch = { openedAt: now, ids: new Set() };
      this.batches.set(group, batch);
    }
    for (const id of ids) if (batch.ids.size < this.options.maxIdsPerBatch) batch.ids.add(id);
    const age = now - batch.openedAt;
    // A clock that stepped back counts as due: the batch must not wait for a time that may never come.
    if (age >= 0 && age < this.options.windowMs) return [];
    this.batches.delete(group);
    return [...batch.ids];
  }
}
