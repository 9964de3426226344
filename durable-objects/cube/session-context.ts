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

/** A context of the previous and the next neighbour's parts, either of which may be missing. */
const joinParts = (previous: string, next: string) => [previous, next].filter(Boolean).join("\n");

export class SessionContext {
  constructor(private readonly sql: SqlStorage) {}

  private exec(query: string, ...params: unknown[]): Row[] {
    return this.sql.exec(query, ...(params as SqlStorageValue[])).toArray();
  }

  /**
   * The contexts of new memories appended to their sessions in this order, and the update to run after their insert.
   * A new memory always takes the highest seq, so it is the last of its session: its context is the previous
   * memory's text, plus the next one's when the same batch holds it. Planned for the whole batch up front, each new
   * memory is indexed once with its final context instead of being re-indexed (an FTS delete and insert) when its
   * successor arrives; only a session's last memory from before the batch is updated, once.
   */
  planAppend(items: readonly { sessionId: string | null; content: string }[]): { contexts: string[]; afterInsert: () => void } {
    const contexts: string[] = [];
    /** Per session: the index of its latest memory in this batch. */
    const latest = new Map<string, number>();
    /** Per session: its last memory from before the batch, with the context it gets for its new successor. */
    const updates: { seq: SqlStorageValue; context: string }[] = [];
    items.forEach((item, i) => {
      if (item.sessionId === null) {
        contexts.push("");
        return;
      }
      const before = latest.get(item.sessionId);
      latest.set(item.sessionId, i);
      if (before !== undefined) {
        contexts[before] = joinParts(contexts[before]!, contextPart(item.content));
        contexts.push(contextPart(items[before]!.content));
        return;
      }
      const previous = this.exec(
        "SELECT seq, content, context FROM memories WHERE session_id = ? ORDER BY seq DESC LIMIT 1",
        item.sessionId,
      )[0];
      if (!previous) {
        contexts.push("");
        return;
      }
      updates.push({ seq: previous.seq!, context: joinParts(String(previous.context), contextPart(item.content)) });
      contexts.push(contextPart(String(previous.content)));
    });
    return {
      contexts,
      afterInsert: () => {
        for (const { seq, context } of updates) this.exec("UPDATE memories SET context = ? WHERE seq = ?", context, seq);
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
