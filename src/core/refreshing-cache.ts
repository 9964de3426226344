/**
 * A bounded per-isolate cache that keeps a warm path off the central store: an entry is served as is until
 * `refreshAfterMs`, then served once more with `refresh: true` so the caller re-reads it in the background, and never
 * served after `expireAfterMs` (the caller reads it before answering). While requests keep coming, an entry is
 * re-read before it expires and no request waits for the store; `expireAfterMs` is how long a change made elsewhere
 * can go unseen. When full, the oldest entry goes first. Times are passed in (the caller's clock), so tests move them.
 */
export class RefreshingCache<K, V> {
  private readonly entries = new Map<K, { value: V; readAt: number; refreshing: boolean }>();

  constructor(private readonly options: { refreshAfterMs: number; expireAfterMs: number; maxEntries: number }) {}

  /** The entry, and whether this caller should refresh it (told to one caller per read); undefined when absent or expired. */
  lookup(key: K, now: number): { value: V; refresh: boolean } | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const age = now - entry.readAt;
    if (age >= this.options.expireAfterMs || age < 0) {
      this.entries.delete(key);
      return undefined;
    }
    const refresh = age >= this.options.refreshAfterMs && !entry.refreshing;
    if (refresh) entry.refreshing = true;
    return { value: entry.value, refresh };
  }

  /** Stores a value read from the store at `now`. */
  set(key: K, value: V, now: number): void {
    // Re-inserting moves the key to the end, so the first key is always the oldest one set.
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, readAt: now, refreshing: false });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** Drops every entry whose key matches (a change this isolate made itself). */
  deleteWhere(matches: (key: K) => boolean): void {
    for (const key of [...this.entries.keys()]) if (matches(key)) this.entries.delete(key);
  }
}
