/**
 * Neighbour context for the best hits. A conversation turn is often half of an exchange: the question is in one
 * turn and the answer in the next ("What do you do to relax?" / "Painting, mostly"), or the turn that matched says
 * "that" about what its neighbour named. The best few hits of a search therefore come back with the memory just
 * before and just after them in their session (the same neighbours the lexical index already reads in its
 * `context` column, cube/session-context.ts), as context beside the hit rather than as hits of their own: they take
 * no place in top_k, and a caller counts their tokens with the hit's (the search response's context_tokens does).
 * Synchronous SQL, like the rest of search.
 */
import type { SearchFilter } from "./filter-verdicts";
import type { NeighbourWire, SearchHit } from "./protocol";
import { contextPart } from "./session-context";

/**
 * How many of the best hits get their neighbours. Chosen on LoCoMo conversations 0–2 (bench recall --tuned 0-2;
 * docs/retrieval-multihop.md): 3 hits reached recall@10 0.803 there but 622 context tokens at k = 10, over the 600
 * of issue 12's budget; 2 reached 0.800 at 569. Checked on conversations 3–4.
 */
export const NEIGHBOUR_HITS = 2;

/** The nearest memory before (or after) `seq` in `session`, passing the request's filter. */
const neighbourQuery = (filter: string, before: boolean) =>
  `SELECT m.id, m.content, m.source FROM memories m
    WHERE m.session_id = ? AND m.seq ${before ? "<" : ">"} ? AND ${filter}
    ORDER BY m.seq ${before ? "DESC" : "ASC"} LIMIT 1`;

/**
 * `hits` with the neighbours of the first `count` attached (each: the memory before, then the one after, when it
 * passes the request's filter and is not itself a hit; its first CONTEXT_CHARS_PER_NEIGHBOUR characters). Hits
 * outside a session have none.
 */
export function withNeighbours(sql: SqlStorage, hits: SearchHit[], where: SearchFilter, count: number = NEIGHBOUR_HITS): SearchHit[] {
  if (count <= 0 || hits.length === 0) return hits;
  const returned = new Set(hits.map((hit) => hit.memory.id));
  const filter = where.clauses.length > 0 ? where.clauses.join(" AND ") : "1";
  return hits.map((hit, rank) => {
    if (rank >= count || hit.memory.session_id === null) return hit;
    const row = sql.exec("SELECT seq FROM memories WHERE id = ?", hit.memory.id).toArray()[0];
    if (!row) return hit;
    const neighbours: NeighbourWire[] = [];
    for (const before of [true, false]) {
      const found = sql
        .exec(neighbourQuery(filter, before), ...([hit.memory.session_id, row.seq, ...where.params] as SqlStorageValue[]))
        .toArray()[0];
      if (!found || returned.has(String(found.id))) continue;
      returned.add(String(found.id));
      const source = JSON.parse(String(found.source)) as { message_ids?: string[] };
      // Bounded like the index's context column: a neighbour is context, and a long document must not fill the page.
      neighbours.push({ id: String(found.id), content: contextPart(String(found.content)), message_ids: source.message_ids ?? [], position: before ? "before" : "after" });
    }
    return neighbours.length > 0 ? { ...hit, neighbours } : hit;
  });
}
