/**
 * Conversational context for the lexical index. A turn is often only findable through its neighbours ("Did you
 * paint that?" / "Yes, the lake at sunrise"), so each memory of a session indexes its neighbours' text in the
 * `context` column (indexed by FTS5, never returned). Neighbours are the memories just before and after it in its
 * session, in insertion order. Synchronous SQL, called inside the store's transactions.
 */

type Row = Record<string, SqlStorageValue>;

/** How much of each neighbour's text a memory indexes: enough for a turn, bounded for long documents. */
export const CONTEXT_CHARS_PER_NEIGHBOUR = 1000;

export const contextPart = (text: string) => text.slice(0, CONTEXT_CHARS_PER_NEIGHBOUR);

export class SessionContext {
  constructor(private readonly sql: SqlStorage) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /**
   * Before a new memory is inserted into `sessionId`: its context (the session's last memory's text) and a function
   * to call after the insert. A new memory always takes the highest seq, so it is the last of its session, and the
   * previous last one's context — which had no "next" part yet — only needs this one's text appended.
   */
  beforeAppend(sessionId: string | null, content: string): { context: string; afterInsert: () => void } {
    const previous =
      sessionId === null
        ? undefined
        : this.exec("SELECT seq, content, context FROM memories WHERE session_id = ? ORDER BY seq DESC LIMIT 1", sessionId)[0];
    if (!previous) return { context: "", afterInsert: () => {} };
    return {
      context: contextPart(String(previous.content)),
      afterInsert: () => {
        const context = [String(previous.context), contextPart(content)].filter(Boolean).join("\n");
        this.exec("UPDATE memories SET context = ? WHERE seq = ?", context, previous.seq);
      },
    };
  }

  /** The memories just before and just after `id` in its session, if any. */
  neighbours(sessionId: string, id: string): string[] {
    const seq = this.exec("SELECT seq FROM memories WHERE id = ?", id)[0]?.seq;
    if (seq == null) return [];
    const before = this.exec("SELECT id FROM memories WHERE session_id = ? AND seq < ? ORDER BY seq DESC LIMIT 1", sessionId, seq)[0];
    const after = this.exec("SELECT id FROM memories WHERE session_id = ? AND seq > ? ORDER BY seq LIMIT 1", sessionId, seq)[0];
    return [before, after].flatMap((row) => (row ? [String(row.id)] : []));
  }

  /** Recomputes the context of `id`'s neighbours in `sessionId` (after its text changed or it left the session). */
  refreshNeighboursOf(sessionId: string, id: string): void {
    for (const neighbour of this.neighbours(sessionId, id)) this.refresh(neighbour, "self");
  }

  /**
   * Sets a memory's context to its neighbours' text; with "self-and-neighbours" also refreshes the neighbours,
   * whose context now includes this memory.
   */
  refresh(id: string, scope: "self" | "self-and-neighbours"): void {
    const sessionId = this.exec("SELECT session_id FROM memories WHERE id = ?", id)[0]?.session_id;
    if (sessionId == null) {
      this.exec("UPDATE memories SET context = '' WHERE id = ? AND context != ''", id);
      return;
    }
    const neighbours = this.neighbours(String(sessionId), id);
    const context = neighbours
      .map((n) => contextPart(String(this.exec("SELECT content FROM memories WHERE id = ?", n)[0]?.content)))
      .join("\n");
    this.exec("UPDATE memories SET context = ? WHERE id = ? AND context != ?", context, id, context);
    if (scope === "self-and-neighbours") for (const n of neighbours) this.refresh(n, "self");
  }
}
