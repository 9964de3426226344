/** Times are integer milliseconds inside the system and ISO-8601 UTC strings on the wire. */

export const toIso = (ms: number): string => new Date(ms).toISOString();
export const toIsoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : toIso(ms));

/** Milliseconds of an ISO-8601 string that validation already accepted. */
export function fromIso(iso: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`unparseable time: ${iso}`);
  return ms;
}

export const fromIsoOrNull = (iso: string | null | undefined): number | null => (iso == null ? null : fromIso(iso));

/** A clock, injected wherever time decides behaviour so tests can pin it. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
