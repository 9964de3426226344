/** An R2 bucket that counts the calls made through it, for tests of the stepwise export and snapshot jobs. */

/** What a counted bucket saw, and the faults it is told to make. Reset `calls` at the start of each step. */
export interface R2Log {
  /** Calls since `calls` was last reset (the current step's). */
  calls: number;
  /** The most calls seen before a reset: the most one step made. */
  maxPerStep: number;
  /** Multipart uploads aborted. */
  aborts: number;
  /** Throw once right after a part was uploaded: a step cut short before its commit. */
  cutAfterPart: boolean;
  /** Every part upload fails. */
  partsFail: boolean;
}

export const newR2Log = (): R2Log => ({ calls: 0, maxPerStep: 0, aborts: 0, cutAfterPart: false, partsFail: false });

/** `bucket` as a cube's exporter sees it, counting every call (a resumed upload handle is no call; its parts are). */
export function countingBucket(bucket: R2Bucket, log: R2Log): R2Bucket {
  const counted = <T>(request: () => Promise<T>) => {
    log.calls += 1;
    log.maxPerStep = Math.max(log.maxPerStep, log.calls);
    return request();
  };
  const wrap = (upload: R2MultipartUpload): R2MultipartUpload => ({
    key: upload.key,
    uploadId: upload.uploadId,
    uploadPart: async (n: number, value: never) => {
      const part = await counted(() => {
        if (log.partsFail) throw new Error("R2 unavailable");
        return upload.uploadPart(n, value);
      });
      if (log.cutAfterPart) {
        log.cutAfterPart = false;
        throw new Error("the step was cut short after its part was uploaded");
      }
      return part;
    },
    complete: (parts: R2UploadedPart[]) => counted(() => upload.complete(parts)),
    abort: () => {
      log.aborts += 1;
      return counted(() => upload.abort());
    },
  });
  return {
    get: (key: string) => counted(() => bucket.get(key)),
    head: (key: string) => counted(() => bucket.head(key)),
    put: (key: string, value: never, options?: R2PutOptions) => counted(() => bucket.put(key, value, options)),
    createMultipartUpload: async (key: string, options?: R2MultipartOptions) => wrap(await counted(() => bucket.createMultipartUpload(key, options))),
    resumeMultipartUpload: (key: string, uploadId: string) => wrap(bucket.resumeMultipartUpload(key, uploadId)),
  } as unknown as R2Bucket;
}

/**
 * An export file (its header line, then the rest) with the header fields that name this one file left out — what
 * two files of the same content must share byte for byte.
 */
export function withoutHeaderFields(text: string, fields: readonly string[]): { header: Record<string, unknown>; rest: string } {
  const cut = text.indexOf("\n");
  const header = JSON.parse(text.slice(0, cut)) as Record<string, unknown>;
  for (const field of fields) delete header[field];
  return { header, rest: text.slice(cut + 1) };
}
