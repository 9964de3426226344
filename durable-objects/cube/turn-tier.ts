/**
 * The verbatim turn tier (docs/memreader.md, "The turn tier"; core/reader/turn-citations.ts): the turns an infer-mode
 * extraction cites, indexed as they were said, and the memories each is cited by. Search ranks the turns with the
 * question's words and answers with the citing memories, as one more lexical ranking in fusion. The tier holds no
 * memories: list, count, context and export never see it.
 *
 * Storage (cube migration 20): `turns_fts` indexes the words only (contentless; the text stays in the episode in
 * R2), `turn_tier` names each indexed turn, `turn_citations` links it to memories. A turn leaves the tier with the
 * first memory citing it that is purged (hard forget) or expires (retention): the memory's text must not stay
 * findable through the turn it came from. A destroyed cube (and a deleted owner's) takes its storage along.
 * Synchronous SQL, inside the ingest step's transaction and inside search.
 */
import type { ChannelRanking } from "../../src/core/fusion";
import { citedRanking, turnCitations, turnDocuments } from "../../src/core/reader/turn-citations";
import type { SqlFragment } from "./filters";
import type { StoredEpisode } from "./ingest";

/** The cube's SQL as the tier uses it (CubeStore is one): rows as arrays, inside the caller's transaction. */
export interface TierSql {
  exec(query: string, ...params: unknown[]): Record<string, SqlStorageValue>[];
}

/**
 * The tier's ranking weight in fusion, against 1 for the question's own lexical ranking of memories: chosen on
 * LoCoMo conversations 0–2 (bench recall --mode infer --tuned 0-2), checked on 3–4 (docs/retrieval-multihop.md).
 */
export const TURN_TIER_WEIGHT = 1;
/** BM25 column weights: the turn's text, its neighbours' (as memories_fts weighs a memory's context). */
export const TURN_BM25_WEIGHTS = [1.0, 0.35] as const;
/** Turns ranked at most per search: the bound of the tier's one FTS query (its cost does not grow with hits). */
export const TURN_DEPTH = 300;

/** Records the turns one ingest window's memories cite; `memoryIds[i]` is what became of `candidates[i]`. */
export function recordTurns(
  sql: TierSql,
  episode: StoredEpisode,
  candidates: readonly { messageIds: readonly string[] }[],
  memoryIds: readonly (string | null)[],
): void {
  const citations = turnCitations(candidates, memoryIds);
  if (citations.size === 0) return;
  for (const turn of turnDocuments(episode.messages, new Set(citations.keys()))) {
    let seq = sql.exec("SELECT seq FROM turn_tier WHERE episode_id = ? AND message_id = ?", episode.id, turn.messageId)[0]?.seq;
    if (seq == null) {
      seq = sql.exec("INSERT INTO turn_tier (episode_id, message_id) VALUES (?, ?) RETURNING seq", episode.id, turn.messageId)[0]!.seq;
      sql.exec("INSERT INTO turns_fts (rowid, content, context) VALUES (?, ?, ?)", seq, turn.text, turn.context);
    }
    for (const memoryId of citations.get(turn.messageId)!) {
      sql.exec("INSERT OR IGNORE INTO turn_citations (turn_seq, memory_id) VALUES (?, ?)", seq, memoryId);
    }
  }
}

/**
 * The tier's ranking for an FTS expression under the request's filter: the best TURN_DEPTH turns, then the memories
 * citing them that pass the filter, each at its best turn's rank. One bounded FTS query; a cube without a tier (no
 * infer-mode ingest) answers from an empty index. Empty when no turn matches, else one ranking.
 *
 * @param match an FTS5 expression over the question's terms (core/fts-query.ts `matchAny`)
 * @param depth how many memories the ranking holds at most (the channel depth)
 */
export function turnTierRankings(sql: TierSql, match: string | null, where: SqlFragment, depth: number): ChannelRanking[] {
  if (match === null) return [];
  const rows = sql
    .exec(
      `SELECT c.memory_id AS memory_id FROM (
          SELECT rowid, bm25(turns_fts, ${TURN_BM25_WEIGHTS.join(", ")}) AS score FROM turns_fts WHERE turns_fts MATCH ? ORDER BY score LIMIT ?
        ) r JOIN turn_citations c ON c.turn_seq = r.rowid JOIN memories m ON m.id = c.memory_id
        WHERE ${where.clauses.join(" AND ")} ORDER BY r.score, m.seq`,
      match,
      TURN_DEPTH,
      ...where.params,
    )
    .map((row) => ({ memoryId: String(row.memory_id) }));
  const ids = citedRanking(rows, depth);
  return ids.length === 0 ? [] : [{ channel: "lexical", ids, weight: TURN_TIER_WEIGHT }];
}
