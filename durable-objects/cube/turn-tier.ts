/**
 * The verbatim turn tier (docs/memreader.md, "The turn tier"; core/reader/turn-citations.ts): the turns an infer-mode
 * extraction cites, indexed as they were said, and the memories each is cited by. Search ranks the turns with the
 * question's words and answers with the citing memories, as more lexical rankings in fusion. The tier holds no
 * memories: list, count, context and export never see it.
 *
 * Storage (cube migration 20): `turns_fts` indexes the words only (contentless; the text stays in the episode in
 * R2), `turn_tier` names each indexed turn, `turn_citations` links it to memories. A turn leaves the tier with the
 * first memory citing it that is purged (hard forget) or expires (retention), and so do its neighbours in the tier,
 * whose context holds its text: the memory's words must not stay findable through any turn. A destroyed cube (and a
 * deleted owner's) takes its storage along. Synchronous SQL, inside the ingest step's transaction and inside search.
 */
import { matchAny } from "../../src/core/fts-query";
import type { ChannelRanking } from "../../src/core/fusion";
import { citedRanking, turnCitations, turnDocuments } from "../../src/core/reader/turn-citations";
import type { SqlFragment } from "./filters";
import type { StoredEpisode } from "./ingest";
import { subQueryRankings } from "./search-subject";

/** The cube's SQL as the tier uses it (CubeStore is one): rows as arrays, inside the caller's transaction. */
export interface TierSql {
  exec(query: string, ...params: unknown[]): Record<string, SqlStorageValue>[];
}

/**
 * The tier's ranking weight in fusion, against 1 for the question's own lexical ranking of memories: chosen on
 * LoCoMo conversations 0–2 (bench recall --mode infer --tuned 0-2), checked on 3–4 (docs/retrieval-multihop.md).
 */
export const TURN_TIER_WEIGHT = 1;
/** Turns ranked at most by each of the tier's FTS queries: its bound (the cost does not grow with the matches). */
export const TURN_DEPTH = 300;
/** BM25 column weights: the turn's text, its neighbours' (0.35 and 0.7 compared on conversations 0–2: 0.7 kept). */
export const TURN_BM25_WEIGHTS = [1.0, 0.7] as const;

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
      seq = sql.exec(
        "INSERT INTO turn_tier (episode_id, message_id, position) VALUES (?, ?, ?) RETURNING seq",
        episode.id,
        turn.messageId,
        turn.position,
      )[0]!.seq;
      sql.exec("INSERT INTO turns_fts (rowid, content, context) VALUES (?, ?, ?)", seq, turn.text, turn.context);
    }
    for (const memoryId of citations.get(turn.messageId)!) {
      sql.exec("INSERT OR IGNORE INTO turn_citations (turn_seq, memory_id) VALUES (?, ?)", seq, memoryId);
    }
  }
}

/**
 * The tier's rankings for a question: its words over the turns, and — as search-subject.ts does over verbatim
 * memories, whose "<speaker>: <text>" form the turns have — its words among the turns a person it names opens, and
 * each word alone. Each ranking lists the memories citing the best TURN_DEPTH matching turns that pass the filter,
 * each memory at its best turn's rank.
 *
 * Cost: a cube without a tier (no infer-mode ingest) pays one O(1) read (max(seq) of turn_tier). A cube with one
 * pays one bounded FTS query for the question, plus what the sub-queries of a verbatim cube cost: a document count
 * per query term and at most 1 + MAX_ASPECTS more bounded FTS queries, each joined to ≤ TURN_DEPTH citations.
 *
 * @param terms the question's search terms (a subject is usually too common to be ranked by)
 * @param ranked the terms worth ranking by (the searcher's discriminating terms)
 * @param depth how many memories a ranking holds at most (the channel depth)
 */
export function turnTierRankings(sql: TierSql, terms: readonly string[], ranked: readonly string[], where: SqlFragment, depth: number): ChannelRanking[] {
  const documents = Number(sql.exec("SELECT coalesce(max(seq), 0) AS n FROM turn_tier")[0]?.n ?? 0);
  const match = matchAny(ranked);
  if (documents === 0 || match === null) return [];
  const rank = (expression: string) => citedMemories(sql, expression, where, depth);
  const counts = new Map<string, number>();
  const documentCount = (expression: string) => {
    let count = counts.get(expression);
    if (count === undefined) {
      count = Number(sql.exec("SELECT count(*) AS n FROM turns_fts WHERE turns_fts MATCH ?", expression)[0]?.n ?? 0);
      counts.set(expression, count);
    }
    return count;
  };
  const rankings: ChannelRanking[] = [{ channel: "lexical", ids: rank(match), weight: TURN_TIER_WEIGHT }];
  rankings.push(...subQueryRankings({ documents, documentCount, rank }, terms, ranked));
  return rankings.filter((r) => r.ids.length > 0);
}

/** The memories citing the best TURN_DEPTH turns matching `match` that pass the filter, best turn first. */
function citedMemories(sql: TierSql, match: string, where: SqlFragment, depth: number): string[] {
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
  return citedRanking(rows, depth);
}
