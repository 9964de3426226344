/**
 * Opaque list cursors: base64url of a small JSON position. Callers must not build them; a cursor that does not
 * decode to the expected shape is rejected as bad input rather than silently restarting the listing.
 */

/** Position after the last item of a page, in the list's order (created_at desc, seq desc). */
export interface ListPosition {
  created_at: number;
  seq: number;
}

export function encodeCursor(position: ListPosition): string {
  const json = JSON.stringify([position.created_at, position.seq]);
  return btoa(json).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The position in `cursor`, or null when it is not a cursor this API issued. */
export function decodeCursor(cursor: string): ListPosition | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) return null;
  try {
    const parsed: unknown = JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/")));
    if (!Array.isArray(parsed) || parsed.length !== 2) return null;
    const [createdAt, seq] = parsed;
    if (!Number.isSafeInteger(createdAt) || !Number.isSafeInteger(seq)) return null;
    return { created_at: createdAt, seq };
  } catch {
    return null;
  }
}
