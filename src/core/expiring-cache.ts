/**
 * A bounded per-isolate cache whose entries expire `ttlMs` after they were set. An isolate cannot hear about changes
 * made by others, so the TTL is how long a stale entry can be believed; when full, the oldest entry goes first.
 * Times are passed in (the caller's clock), so tests move them.
 */
export class ExpiringCache<K, V> {
  private readonly entries = new Map<K, { value: V; expires: number }>();

  constructor(private readonly options: { ttlMs: number; maxEntries: number }) {}

  get(key: K, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  set(key: K, value: V, now: number): void {
    // Re-inserting moves the key to the end, so the first key is always the oldest one set.
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: now + this.options.ttlMs });
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
