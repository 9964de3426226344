/**
 * Retrieval inside one cube: every channel ranks candidates under the same filters, the rankings are fused
 * (core/fusion.ts), scored with the scheduler's signals (core/scoring.ts), thresholded and diversified
 * (core/mmr.ts). Synchronous SQL, like the store.
 */
import type { VectorMatch } from "../../src/adapters/types";
import { CHANNEL_WEIGHTS, type Channel, type ChannelRanking, SUPPORT_CHANNELS, fuse } from "../../src/core/fusion";
import { matchAny } from "../../src/core/fts-query";
import { mmr } from "../../src/core/mmr";
import { type ScoringSignals, finalScore } from "../../src/core/scoring";
import { ID_LIST_CHUNK } from "../../src/core/sql-limits";
import { relativeToNearest } from "../../src/core/vector-strengths";
import { type SqlFragment, compileFilter, compileWhere, placeholders, validAt } from "./filters";
import { QueryCentring } from "./centroid";
import { FilterVerdicts, type SearchFilter } from "./filter-verdicts";
import { lexicalCoverage } from "./lexical-coverage";
import { type ScoredRow, bestMatches, parsePhrases } from "./phrase-ranking";
import type { CubeRef, SearchHit, SearchRequestInternal } from "./protocol";
import { expandedRanking } from "./search-expand";
import { datedRankings } from "./search-dated";
import { whenRankings } from "./search-when";
import { withNeighbours } from "./search-neighbours";
import { SUB_QUERY_SOURCES, subQueryRankings } from "./search-subject";
import { turnTierRankings } from "./turn-tier";
import type { CubeStore } from "./store";
import { BM25_WEIGHTS, TermStats } from "./term-stats";
import type { VectorStore } from "./vector-store";

/** Candidates each channel contributes: enough for fusion to find agreement below each channel's top ten. */
export const CHANNEL_DEPTH = 100;
/** Fused candidates loaded for scoring and MMR: a multiple of top_k, and never fewer than the minimum. */
const HYDRATE_FACTOR = 3;
const HYDRATE_MIN = 40;
/** The most nearest neighbours the vector channel looks at while a filter rejects candidates. */
const VECTOR_WIDEST = CHANNEL_DEPTH * 30;
/** Terms in at most this many memories are always ranked, even when that is more than half the cube (see discriminating()). */
const COMMON_TERM_ALWAYS_KEPT = 2;
/** How many BM25 (or nearest-neighbour) candidates to rank before filtering, as a multiple of the channel depth. */
const OVERFETCH = 3;
/** A query word counts as a tag only when at most 1 / TAG_MAX_SHARE of the cube carries it (see preciseTags()). */
const TAG_MAX_SHARE = 5;
const TAG_ALWAYS_PRECISE = 3;
/**
 * Candidates whose filter is checked first, as a multiple of the page: most pass, so this slice usually fills the
 * page, and the rest is only looked at when it does not (the filter query sorts everything it is given).
 */
const FIRST_SLICE = 1.25;
export { BM25_WEIGHTS };
/**
 * Each memory's best BM25 score for an FTS expression (bound twice): its row in memories_fts, or for an archived
 * memory also the whole archived text (archived_fts, cube migration 11), whose preview alone is in memories_fts.
 */
const LEXICAL_SCORES = `SELECT rowid, min(score) AS score FROM (
    SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ?
    UNION ALL
    SELECT rowid, bm25(archived_fts) AS score FROM archived_fts WHERE archived_fts MATCH ?
  ) GROUP BY rowid`;
/**
 * The same scores while the cube holds no archived text (most cubes, most of the time): without the union there is
 * no GROUP BY over every match, 13% of the lexical query's time at 10,000 memories (docs/hot-path.md). Bound once.
 */
const LIVE_LEXICAL_SCORES = `SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ?`;

/** The query's embedding and what the shared index already answered for it. */
export interface SemanticQuery {
  embedderId: string;
  vector: Float32Array;
  /** Cosine from which a neighbour counts fully in fusion (Embedder.confidentSimilarity). */
  confidentSimilarity: number;
  /** The vector channel's weight in fusion (Embedder.fusionWeight). */
  fusionWeight: number;
  /** Matches from the remote index (Vectorize), merged with the cube's own vectors. */
  remote: readonly VectorMatch[];
  /**
   * Whether a shared index (Vectorize) serves this cube's vectors. Only when it does not is the cube's own store the
   * whole index, so its mean is the cube's and the query can be centred on it (cube/centroid.ts).
   */
  shared: boolean;
}

export class CubeSearch {
  /**
   * The cube's size bound, document counts and posting lists by FTS expression (a word; a word in the tags column),
   * valid for one generation of the cube (the Durable Object bumps it on every change): a count reads the word's
   * whole posting list, and queries repeat words, names above all.
   */
  private readonly counts: TermStats;

  private readonly centring: QueryCentring;
  /** Which candidates pass a search's filter, per generation (cube/filter-verdicts.ts). */
  private readonly verdicts: FilterVerdicts;

  constructor(
    private readonly sql: SqlStorage,
    private readonly store: CubeStore,
    private readonly vectors: VectorStore,
  ) {
    this.centring = new QueryCentring(vectors);
    this.counts = new TermStats(sql);
    this.verdicts = new FilterVerdicts(sql);
  }

  private ids(query: string, params: unknown[]): string[] {
    return this.sql
      .exec(query, ...(params as SqlStorageValue[]))
      .toArray()
      .map((row) => String(row.id));
  }

  /**
   * `generation`: the cube's change counter (cached counts are reused while it stands still); `working`: the cube's
   * working memory, best first (cube/scheduler.ts), for the working channel.
   */
  search(
    ref: CubeRef,
    request: SearchRequestInternal,
    semantic: SemanticQuery | null,
    generation: number,
    working: readonly string[] = [],
  ): SearchHit[] {
    this.counts.use(generation);
    this.verdicts.use(generation);
    const where = this.conditions(request);
    const rankings: ChannelRanking[] = request.channels.map((channel) =>
      channel === "vector"
        ? this.semantic(semantic, where, generation)
        : // Working memory is a support channel: it only reorders candidates the filtered channels found.
          { channel, ids: channel === "working" ? working : this.channel(channel, request, where) },
    );
    this.weighLexical(rankings, request.terms);
    const expanded = this.expanded(request, where, rankings);
    if (expanded) rankings.push(expanded);
    if (request.channels.includes("lexical")) rankings.push(...this.subject(request, where));
    if (request.channels.includes("lexical")) rankings.push(...this.dated(request, where));
    // The turns an infer-mode ingest kept as said, each standing for the memories citing it (cube/turn-tier.ts).
    if (request.channels.includes("lexical")) rankings.push(...turnTierRankings(this.store, request.terms, this.discriminating(request.terms), where, CHANNEL_DEPTH));
    const weights = { ...CHANNEL_WEIGHTS, vector: semantic?.fusionWeight ?? CHANNEL_WEIGHTS.vector };
    // A question asking "when": the vector channel's candidates that state a time, again (cube/search-when.ts).
    const contents = (ids: readonly string[]) => new Map([...this.scoringRows(ids)].map(([id, row]) => [id, row.content]));
    rankings.push(...whenRankings({ contents }, request.query, rankings.find((r) => r.channel === "vector")));
    // Scheduler signals move a score by at most ±15%, so only the best fused candidates can still reach the top k;
    // loading just those keeps row parsing off the hot path.
    const fused = fuse(rankings.map(relativeToNearest), weights).slice(0, Math.max(request.topK * HYDRATE_FACTOR, HYDRATE_MIN));
    if (fused.length === 0) return [];

    // Scoring needs a few columns and MMR the text, so candidates are read as light rows; only the hits are loaded
    // as whole memories (parsing a row's JSON columns costs more than scoring it).
    const rows = this.scoringRows(fused.map((c) => c.id));
    const scored = fused.flatMap((candidate) => {
      const row = rows.get(candidate.id);
      if (!row) return [];
      const score = finalScore(candidate.fused, row.signals, request.referenceTime);
      return [{ id: candidate.id, score, text: row.content, channels: candidate.channels, ranks: candidate.ranks }];
    });
    const kept = scored
      .filter((hit) => request.threshold === null || hit.score >= request.threshold)
      .sort((a, b) => b.score - a.score);
    const hits = mmr(kept, request.topK, request.mmrLambda);
    const memories = this.store.findMany(ref, hits.map((hit) => hit.id));
    const weak = weakNeighbours(rankings);
    const found = hits.flatMap(({ id, score, channels, ranks }): SearchHit[] => {
      const memory = memories.get(id);
      if (!memory) return [];
      const hit: SearchHit = { memory, score, channels, ranks };
      return [weak.has(id) && channels.every((c) => c === "vector" || SUPPORT_CHANNELS.has(c)) ? { ...hit, weak: true as const } : hit];
    });
    return found;
  }

  /**
   * The hits, in their final order (after any rerank and cut to top_k), with the session neighbours of the best ones
   * under the request's filter (cube/search-neighbours.ts).
   */
  withNeighbours(hits: SearchHit[], request: SearchRequestInternal): SearchHit[] {
    return withNeighbours(this.sql, hits, this.conditions(request));
  }

  /** Gives the lexical ranking strengths: each candidate's IDF-weighted coverage of the query (cube/lexical-coverage.ts). */
  private weighLexical(rankings: ChannelRanking[], terms: readonly string[]): void {
    const at = rankings.findIndex((r) => r.channel === "lexical");
    const lexical = rankings[at];
    if (!lexical) return;
    const index = {
      sql: this.sql,
      documents: this.counts.documents,
      documentCount: (term: string) => this.documentCount(matchAny([term])!),
      postings: (term: string) => this.counts.postings(matchAny([term])!),
      knownSeq: (id: string) => this.verdicts.seqOf(id),
    };
    const strengths = lexicalCoverage(index, lexical.ids, this.discriminating(terms));
    if (strengths) rankings[at] = { ...lexical, strengths };
  }

  /** The lexical ranking again with the words its best hits share (cube/search-expand.ts), if it adds any. */
  private expanded(request: SearchRequestInternal, where: SearchFilter, rankings: readonly ChannelRanking[]): ChannelRanking | null {
    const lexical = rankings.find((r) => r.channel === "lexical");
    if (!lexical || lexical.ids.length === 0) return null;
    return expandedRanking(
      {
        sql: this.sql,
        documents: this.counts.documents,
        documentCount: (term) => this.documentCount(matchAny([term])!),
        rank: (terms, added) => this.lexical(matchAny([...terms, ...added])!, where),
      },
      this.discriminating(request.terms),
      lexical.ids,
    );
  }

  /** The question's words ranked among the memories of a person it names, and each alone (cube/search-subject.ts). */
  private subject(request: SearchRequestInternal, where: SearchFilter): ChannelRanking[] {
    return subQueryRankings(
      {
        documents: this.counts.documents,
        documentCount: (match) => this.documentCount(match),
        rank: (match) => this.lexical(match, where, SUB_QUERY_SOURCES),
      },
      request.terms,
      this.discriminating(request.terms),
    );
  }

  /** The question's words ranked among the memories of the times it names (cube/search-dated.ts). */
  private dated(request: SearchRequestInternal, where: SearchFilter): ChannelRanking[] {
    // Asked only when the question names a time. Among the question's best OVERFETCH × CHANNEL_DEPTH lexical matches
    // only: the stage lifts memories of the named time among the question's best matches, and the exact query over
    // every match would cost a dated question (5% of LoCoMo's) a scoring of all of them, most often to find that the
    // named day holds none.
    const rank = (extra: string) => {
      const match = matchAny(this.discriminating(request.terms));
      return match === null ? [] : this.lexical(match, where, extra, { exact: false });
    };
    return datedRankings({ rank }, request.query, request.referenceTime);
  }

  /**
   * The terms worth ranking by. A term in more than half the cube (the owner's name in every memory, a speaker's on
   * every turn of theirs) has a BM25 IDF that FTS5 clamps to ~0: it is no evidence, yet a memory matching only it
   * still took a rank in the lexical channel, and rank fusion counted that rank like any other (short memories
   * naming the owner came first for every paraphrase). Ranking its postings also costs more than everything else.
   * Counting a term's documents is cheap, so such terms are dropped — unless nothing is left, or the term is in so
   * few memories (a cube of one or two) that it is still the only evidence there is.
   */
  private discriminating(terms: readonly string[]): string[] {
    if (terms.length < 2) return [...terms];
    const { documents } = this.counts;
    const kept = terms.filter((term) => {
      const count = this.documentCount(matchAny([term])!);
      return count * 2 <= documents || count <= COMMON_TERM_ALWAYS_KEPT;
    });
    return kept.length > 0 ? kept : [...terms];
  }

  /**
   * Query words that are precise tags here: carried by at most a fifth of the cube (or by a handful of memories,
   * which in a small cube may be more than a fifth). A tag on every other memory
   * (MemReader tags each memory with its speaker) says nothing about relevance, and ranking its hundreds of
   * carriers newest-first lifted the latest sessions over the evidence (bench recall --mode infer; README).
   */
  private preciseTags(terms: readonly string[]): string[] {
    if (terms.length === 0) return [];
    const { documents } = this.counts;
    return terms.filter((term) => {
      const count = this.documentCount(matchAny([term], "tags")!);
      return count > 0 && count <= Math.max(TAG_ALWAYS_PRECISE, documents / TAG_MAX_SHARE);
    });
  }

  /** How many memories (in any state) the FTS expression `match` finds, remembered for this generation. */
  private documentCount(match: string): number {
    return this.counts.documentCount(match);
  }

  /**
   * BM25 top candidates under the filter. Ranking inside FTS5 first and filtering the best few hundred is several
   * times faster than filtering every match; when the filter rejects so many that the page comes up short, the
   * exact (filter-first) query runs instead, so a selective filter never loses results.
   */
  private lexical(match: string, where: SearchFilter, extra: string | null = null, { exact = true } = {}): string[] {
    const archived = this.counts.hasArchivedText;
    const [scores, matches] = archived ? [LEXICAL_SCORES, [match, match]] : [LIVE_LEXICAL_SCORES, [match]];
    const overfetch = CHANNEL_DEPTH * OVERFETCH;
    const best = this.bestScored(match, archived).map((row) => row.rowid);
    if (best.length === 0) return [];
    const kept = this.firstPassing("seq", best, where, extra);
    // Everything ranked was looked at, or the page is full: the fast answer is the exact one. A ranking that only
    // lifts some of the best matches (`exact: false`) stops here too.
    if (kept.length === CHANNEL_DEPTH || best.length < overfetch || !exact) return kept;
    const filter = (extra === null ? where.clauses : [...where.clauses, extra]).join(" AND ");
    return this.ids(`SELECT m.id FROM (${scores}) r JOIN memories m ON m.seq = r.rowid WHERE ${filter} ORDER BY r.score LIMIT ?`, [
      ...matches,
      ...where.params,
      CHANNEL_DEPTH,
    ]);
  }

  /**
   * The best OVERFETCH × CHANNEL_DEPTH rows of the FTS expression `match` by BM25, best first. While the cube holds no
   * archived text, they are summed from each phrase's scores, kept for the generation (cube/phrase-ranking.ts): FTS5
   * scored every match of every word of each ranking again, a third of a search at 10,000 memories. With archived
   * text a row's score is the better of two indexes' (LEXICAL_SCORES), not a sum, and FTS5 ranks.
   */
  private bestScored(match: string, archived: boolean): ScoredRow[] {
    const phrases = archived ? null : parsePhrases(match);
    if (phrases) return bestMatches(phrases.map((group) => group.map((phrase) => this.counts.phraseScores(phrase))), CHANNEL_DEPTH * OVERFETCH);
    const [scores, matches] = archived ? [LEXICAL_SCORES, [match, match]] : [LIVE_LEXICAL_SCORES, [match]];
    return this.sql
      .exec(`SELECT rowid, score FROM (${scores}) ORDER BY score LIMIT ?`, ...matches, CHANNEL_DEPTH * OVERFETCH)
      .toArray()
      .map((row) => ({ rowid: Number(row.rowid), score: Number(row.score) }));
  }

  /** Candidates by id as {@link ScoringRow}s; unknown ids are absent. */
  private scoringRows(ids: readonly string[]): Map<string, ScoringRow> {
    const rows = new Map<string, ScoringRow>();
    // D1 and DO SQLite bind at most 100 parameters per statement (docs/platform-limits.md).
    for (let i = 0; i < ids.length; i += ID_LIST_CHUNK) {
      const chunk = ids.slice(i, i + ID_LIST_CHUNK);
      const found = this.sql.exec(
        `SELECT id, content, importance, priority, created_at, valid_at, access_count FROM memories WHERE id IN (${placeholders(chunk.length)})`,
        ...chunk,
      );
      for (const row of found) {
        const created = Number(row.created_at);
        rows.set(String(row.id), {
          content: String(row.content),
          signals: {
            importance: Number(row.importance),
            priority: Number(row.priority),
            timestamp: row.valid_at === null ? created : Number(row.valid_at),
            // Reads of recent searches not written yet (CubeStore.recordAccess) count as if they were.
            accessCount: Number(row.access_count) + this.store.unwrittenReads(String(row.id)),
          },
        });
      }
    }
    return rows;
  }

  /**
   * The first CHANNEL_DEPTH of `candidates` (memory seqs or ids, best first) that pass the filter (and `extra`), in
   * their order: the FIRST_SLICE first, then the rest only if the page is still short.
   */
  private firstPassing(column: "seq" | "id", candidates: readonly (number | string)[], where: SearchFilter, extra: string | null = null): string[] {
    const first = Math.ceil(CHANNEL_DEPTH * FIRST_SLICE);
    const kept = this.verdicts.passing(column, candidates.slice(0, first), where, extra, CHANNEL_DEPTH);
    if (kept.length === CHANNEL_DEPTH || candidates.length <= first) return kept;
    return [...kept, ...this.verdicts.passing(column, candidates.slice(first), where, extra, CHANNEL_DEPTH - kept.length)];
  }

  /**
   * The filter every channel applies: shorthand filters, the typed grammar, and validity at the reference time —
   * whole, as SQL, and split into what the row alone decides and the time (cube/filter-verdicts.ts).
   */
  private conditions(request: SearchRequestInternal): SearchFilter {
    const parts = [compileFilter(request.filter), validAt(request.referenceTime)];
    if (request.where) parts.push(compileWhere(request.where));
    const timeless = parts.filter((_, i) => i !== 1);
    return {
      clauses: parts.flatMap((p) => p.clauses),
      params: parts.flatMap((p) => p.params),
      timeless: { clauses: timeless.flatMap((p) => p.clauses), params: timeless.flatMap((p) => p.params) },
      at: request.referenceTime,
    };
  }

  private channel(channel: Channel, request: SearchRequestInternal, where: SearchFilter): string[] {
    const filter = where.clauses.join(" AND ");
    switch (channel) {
      case "lexical": {
        const match = matchAny(this.discriminating(request.terms));
        return match === null ? [] : this.lexical(match, where);
      }
      case "tag": {
        // The FTS index's tags column: an index lookup instead of parsing every memory's tags JSON. Only tags a
        // writer chose count here: a reader's tags are words of the memory's own text (core/reader/types.ts), which
        // the lexical channel already ranks; ranking them again let one matching keyword outvote the whole text
        // (bench recall --mode infer: recall@10 0.602 with them, 0.672 without; docs/retrieval-multihop.md). A memory
        // imported from another cube keeps its `source.reader`, and with it this rule (an import test caught it).
        const tags = matchAny(this.preciseTags(request.terms), "tags");
        if (tags === null) return [];
        return this.ids(
          `SELECT m.id FROM memories_fts JOIN memories m ON m.seq = memories_fts.rowid
            WHERE memories_fts MATCH ? AND json_extract(m.source, '$.kind') IS NOT 'extraction'
              AND json_extract(m.source, '$.reader') IS NULL AND ${filter}
            ORDER BY bm25(memories_fts), m.created_at DESC, m.seq DESC LIMIT ?`,
          [tags, ...where.params, CHANNEL_DEPTH],
        );
      }
      case "recent":
        return this.ids(`SELECT m.id FROM memories m WHERE ${filter} ORDER BY m.created_at DESC, m.seq DESC LIMIT ?`, [
          ...where.params,
          request.topK,
        ]);
      case "vector":
      case "working":
        throw new Error(`the ${channel} channel is ranked by the caller's data: see search()`);
    }
  }

  /**
   * Nearest neighbours from the cube's own vectors (read-your-writes: a memory is here the moment it is written)
   * and from the remote index, merged by best similarity, then filtered like every other channel. There is no
   * similarity floor: the nearest memories always come back (top_k means the k best; `threshold` asks for fewer), and
   * a candidate's strength in fusion is its cosine relative to the embedder's confidentSimilarity (capped at 1), so a
   * far neighbour ranks and scores low.
   */
  private semantic(semantic: SemanticQuery | null, where: SearchFilter, generation: number): ChannelRanking {
    if (!semantic) return { channel: "vector", ids: [] };
    const query = semantic.shared ? semantic.vector : this.centring.centre(semantic.embedderId, semantic.vector, generation);
    // The store answers cosines to `query`; a centred query is shorter than the unit query, and its length scales
    // them back to similarities of what the query says beyond the cube's common direction.
    const length = Math.sqrt(query.reduce((acc, x) => acc + x * x, 0));
    // Like the lexical channel: over-fetch, filter, and widen once while the filter leaves the page short and
    // closer neighbours remain, so forgotten or filtered-out look-alikes cannot crowd out a live match. Widening
    // stops at VECTOR_WIDEST: past it the filter rejects nearly all close neighbours, whatever is left is far, and
    // the cost would grow with the cube; the lexical channel's exact fallback still serves such filters.
    for (let k = CHANNEL_DEPTH * OVERFETCH; ; k *= 10) {
      const local = this.vectors.query(semantic.embedderId, query, k);
      const best = new Map<string, number>();
      for (const match of local) best.set(match.id, match.score * length);
      for (const match of semantic.remote) best.set(match.id, Math.max(best.get(match.id) ?? -Infinity, match.score));
      // The store answers distinct ids best first, and scaling by one length keeps that order (a stable sort leaves
      // any tie it makes in place): only remote matches need the merge's sort.
      const ordered = semantic.remote.length === 0 ? [...best.keys()] : [...best].sort((a, b) => b[1] - a[1]).map(([id]) => id);
      if (ordered.length === 0) return { channel: "vector", ids: [] };
      const kept = this.firstPassing("id", ordered, where);
      if (kept.length === CHANNEL_DEPTH || local.length < k || k >= VECTOR_WIDEST) {
        return { channel: "vector", ids: kept, strengths: kept.map((id) => (best.get(id) ?? 0) / semantic.confidentSimilarity) };
      }
    }
  }
}

/**
 * The vector channel's candidates below full strength (similarity under the embedder's confidentSimilarity). The
 * channel always answers with the nearest memories, however far; a hit no other content channel found and that is
 * one of these is a weak neighbour (SearchHit.weak).
 */
function weakNeighbours(rankings: readonly ChannelRanking[]): Set<string> {
  const weak = new Set<string>();
  for (const { channel, ids, strengths } of rankings) {
    if (channel !== "vector" || !strengths) continue;
    ids.forEach((id, i) => {
      if ((strengths[i] ?? 1) < 1) weak.add(id);
    });
  }
  return weak;
}

/** What scoring and MMR read of a candidate. */
interface ScoringRow {
  content: string;
  signals: ScoringSignals;
}
