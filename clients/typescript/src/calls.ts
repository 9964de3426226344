/** What every named method shares, whichever file it lives in: its options, and walking a cursor-paginated list. */

/** Options every named method takes last. */
export interface CallOptions {
  /**
   * The Idempotency-Key of a write (default: a fresh UUID per call, kept across its retries). Pass the
   * `idempotencyKey` of a failed call's error to repeat it without writing twice.
   */
  idempotencyKey?: string;
  signal?: AbortSignal;
  headers?: Record<string, string>;
}

/** The parts of {@link CallOptions} that `request()` takes, without keys set to undefined. */
export function callInit(options: CallOptions | undefined) {
  if (!options) return {};
  const { idempotencyKey, signal, headers } = options;
  return {
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    ...(signal === undefined ? {} : { signal }),
    ...(headers === undefined ? {} : { headers }),
  };
}

/**
 * Every item of a paginated list, page after page: `page` fetches one page given the previous page's `next_cursor`
 * (no cursor for the first), and the walk ends at the page whose `next_cursor` is null.
 */
export async function* everyItem<T>(
  page: (cursor: { cursor?: string }) => Promise<{ data: T[]; next_cursor: string | null }>,
): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const { data, next_cursor } = await page(cursor === undefined ? {} : { cursor });
    yield* data;
    cursor = next_cursor ?? undefined;
  } while (cursor !== undefined);
}
