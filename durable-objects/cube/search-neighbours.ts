/**
 * Neighbour context for the best hits. A conversation turn is often half of an exchange: the question is in one
 * turn and the answer in the next ("What do you do to relax?" / "Painting, mostly"), or the turn that matched says
 * "that" about what its neighbour named. The best few hits of a search therefore come back with the memory just
 * before and just after them in their session (the same neighbours the lexical index already reads in its
 * `context` column, cube/session-context.ts), as context beside the hit rather than as hits of their own: they take
 * no place in top_k, and a caller counts their tokens with the hit's (the search response's context_tokens does).
 * Synchronous SQL, like the rest of search.
 */
import { estimateTokens } from "../../src/core/context";
import type { SearchFilter } from "./filter-verdicts";
import { placeholders } from "./filters";
import type { NeighbourWire, SearchHit } from "./protocol";
import { contextPart } from "./session-context";

/**
 * How many of the best hits get their neighbours: the most that keep LoCoMo's context tokens@10 under issue 12's 600
 * on conversations 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md): 3 hits took 622 tokens, 2 took 569
 * (recall@10 there 0.774 → 0.792). Checked on conversations 3–4 (0.732 → 0.752).
 */
export const NEIGHBOUR_HITS = 2;

/**
 * Past the best NEIGHBOUR_HITS, the next hits get their neighbours too, in rank order, while the page's text (its hits
 * and the neighbours given so far, in context_tokens' estimate) stays within this many tokens: a page of short turns
 * spends its room on context, a page of long memories gets none beyond the best two. Chosen on LoCoMo conversations
 * 0–2 (bench recall --tuned 0-2; docs/retrieval-multihop.md, fourth round): simulated on the top 50 of the landed
 * code, 400 / 450 / 500 / 550 / 600 tokens gave tuned recall@10 0.795 / 0.795 / 0.800 / 0.800 / 0.800 at 573 / 576 /
 * 584 / 593 / 610 tokens@10; 500 is the least reaching the best, and the most under issue 12's 600 with room.
 */
export const NEIGHBOUR_CONTEXT_TOKENS = 500;

/** The most hits whose neighbours are looked up, whatever top_k is: a bound on the statement's id list. */
export const NEIGHBOUR_MAX_HITS = 10;

/**
 * For each hit (by id): the seq of the nearest memory before it and after it in its session that passes the
 * request's filter `filter` (SQL on `m`, bound twice), one statement for all of them. Each subquery walks the
 * (session_id, seq) index from the hit outwards.
 */
const nearestQuery = (filter: string, hits: number) =>
  `SELECT h.id AS hit,
      (SELECT m.seq FROM memories m WHERE m.session_id = h.session_id AND m.seq < h.seq AND ${filter} ORDER BY m.seq DESC LIMIT 1) AS before_seq,
      (SELECT m.seq FROM memories m WHERE m.session_id = h.session_id AND m.seq > h.seq AND ${filter} ORDER BY m.seq ASC LIMIT 1) AS after_seq
    FROM memories h WHERE h.session_id IS NOT NULL AND h.id IN (${placeholders(hits)})`;

/**
 * `hits` with the neighbours of the first `count` attached, and of the next ones (up to NEIGHBOUR_MAX_HITS) while the
 * page's tokens stay within `budget` (NEIGHBOUR_CONTEXT_TOKENS): each hit gets the memory before, then the one after,
 * when it passes the request's filter and is not itself a hit or already another's neighbour; its first
 * CONTEXT_CHARS_PER_NEIGHBOUR characters. The first hit past `count` whose neighbours do not fit ends the page's
 * context, so context stays with the best hits. Hits outside a session have none. Two statements whatever the counts.
 */
export function withNeighbours(
  sql: SqlStorage,
  hits: SearchHit[],
  where: SearchFilter,
  count: number = NEIGHBOUR_HITS,
  budget: number = NEIGHBOUR_CONTEXT_TOKENS,
): SearchHit[] {
  let tokens = hits.reduce((sum, hit) => sum + estimateTokens(hit.memory.content), 0);
  // A page already over the budget gives context to the best `count` only: look up no more than those.
  const looked = tokens >= budget ? Math.max(0, count) : Math.max(count, NEIGHBOUR_MAX_HITS);
  const best = hits.slice(0, looked).filter((hit) => hit.memory.session_id !== null);
  if (best.length === 0) return hits;
  const filter = where.clauses.length > 0 ? where.clauses.join(" AND ") : "1";
  const params = [...where.params, ...where.params, ...best.map((hit) => hit.memory.id)] as SqlStorageValue[];
  const sides = new Map<string, [SqlStorageValue, SqlStorageValue]>();
  for (const row of sql.exec(nearestQuery(filter, best.length), ...params)) sides.set(String(row.hit), [row.before_seq!, row.after_seq!]);
  const seqs = [...sides.values()].flat().filter((seq) => seq !== null);
  if (seqs.length === 0) return hits;
  const rows = new Map(
    sql
      .exec(`SELECT seq, id, content, source FROM memories WHERE seq IN (${placeholders(seqs.length)})`, ...seqs)
      .toArray()
      .map((row) => [Number(row.seq), row]),
  );
  const returned = new Set(hits.map((hit) => hit.memory.id));
  let open = true;
  return hits.map((hit, rank) => {
    if (!open || rank >= looked) return hit;
    const [before, after] = sides.get(hit.memory.id) ?? [null, null];
    const neighbours: NeighbourWire[] = [];
    for (const [seq, position] of [[before, "before"], [after, "after"]] as const) {
      const found = seq === null ? undefined : rows.get(Number(seq));
      if (!found || returned.has(String(found.id))) continue;
      const source = JSON.parse(String(found.source)) as { message_ids?: string[] };
      // Bounded like the index's context column: a neighbour is context, and a long document must not fill the page.
      neighbours.push({ id: String(found.id), content: contextPart(String(found.content)), message_ids: source.message_ids ?? [], position });
    }
    const cost = neighbours.reduce((sum, neighbour) => sum + estimateTokens(neighbour.content), 0);
    if (rank >= count && tokens + cost > budget) {
      open = false;
      return hit;
    }
    tokens += cost;
    for (const neighbour of neighbours) returned.add(neighbour.id);
    return neighbours.length > 0 ? { ...hit, neighbours } : hit;
  });
}
