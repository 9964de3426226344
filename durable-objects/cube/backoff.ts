/**
 * Per-cube backoff of background work against a platform service that can fail for long stretches (Vectorize,
 * Workers AI). Without it the alarm re-arms for work that is "due" in the past and fires again at once, forever,
 * while the service is down (issue 17, item 3). The state lives in SQL (`retry_backoff`, cube migration 14), so an
 * evicted or restarted object keeps waiting instead of starting over.
 */

/** The first wait after a failure; each further failure doubles it. */
export const FIRST_BACKOFF_MS = 30_000;
/** The longest wait between two attempts while a service keeps failing. */
export const MAX_BACKOFF_MS = 30 * 60_000;

/** The wait after `failures` consecutive failures: 30 s, 60 s, 120 s, … capped at MAX_BACKOFF_MS. */
export const backoffDelay = (failures: number) => Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, Math.min(failures, 20) - 1), MAX_BACKOFF_MS);

/** One named backoff of this cube (e.g. "remote-vectors", "embeddings"). */
export class Backoff {
  constructor(
    private readonly sql: SqlStorage,
    private readonly name: string,
  ) {}

  /** Consecutive failures and when the last attempt ran; null when the last attempt succeeded (or none ran). */
  state(): { failures: number; lastAttemptAt: number } | null {
    const row = this.sql.exec("SELECT failures, last_attempt_at FROM retry_backoff WHERE name = ?", this.name).toArray()[0];
    return row ? { failures: Number(row.failures), lastAttemptAt: Number(row.last_attempt_at) } : null;
  }

  /** An attempt at `now` failed: the next one waits twice as long as the last wait. */
  failed(now: number): void {
    this.sql.exec(
      `INSERT INTO retry_backoff (name, failures, last_attempt_at) VALUES (?, 1, ?)
       ON CONFLICT (name) DO UPDATE SET failures = failures + 1, last_attempt_at = excluded.last_attempt_at`,
      this.name,
      now,
    );
  }

  /** The service answered: no more waiting. */
  succeeded(): void {
    this.sql.exec("DELETE FROM retry_backoff WHERE name = ?", this.name);
  }

  /** The earliest time the next attempt may run, or null when nothing is backing off. */
  notBefore(): number | null {
    const state = this.state();
    return state ? state.lastAttemptAt + backoffDelay(state.failures) : null;
  }

  /** Whether an attempt may run at `now`. */
  allows(now: number): boolean {
    const at = this.notBefore();
    return at === null || now >= at;
  }
}
