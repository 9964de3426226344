/**
 * The cube's FTS statistics that search reads again and again: how many memories an FTS expression matches, and
 * which memories contain a word (its posting list). Both are valid for one generation of the cube (the Durable
 * Object bumps it on every change: write, update, forget, lifecycle step), so they are kept between searches while
 * the cube stands still and dropped whole the moment it changes.
 *
 * Posting lists replace one FTS query per word and search: lexical coverage (cube/lexical-coverage.ts) asked FTS5
 * `MATCH ? AND rowid IN (…candidates)`, which FTS5 answers by seeking the word's posting list once per candidate —
 * half of a 10,000-memory search's time (docs/search.md, "Where the time goes"). Reading the whole list once costs
 * about as much as counting it, and then every later question about the word is a lookup.
 */

import type { PhraseScores } from "./phrase-ranking";

/** Document counts remembered at most per generation (then the memo starts over). */
const COUNTS_MAX = 10_000;
/**
 * Posting-list entries remembered at most per generation, then the lists start over: 8 bytes each (a seq as
 * Float64Array), 16 with the phrase's BM25 share — 8 to 16 MB of the isolate's 128 MB.
 */
export const POSTINGS_MAX_ENTRIES = 1_000_000;
/** BM25 column weights of memories_fts: content, tags, neighbouring turns' context. */
export const BM25_WEIGHTS = [1.0, 0.6, 0.35] as const;
/**
 * Each row's BM25 share for one phrase, read as strings of one row (one crossing, not one per match), exactly. A
 * share x is sent as two integers: high = trunc(x * 2^30) and low = (x * 2^30 - high) * 2^44, so that x = (high +
 * low / 2^44) / 2^30 to the bit whenever 2^-22 <= |x| < 2^23 (x * 2^30 then has no bit below 2^-44 and fits 53 bits;
 * scaling by powers of two, the fraction and the sum are exact). Integers print cheaper than `printf('%!.17g')`
 * (SQLite's own text of a real keeps 15 digits, JSON's too): about half the formatting's cost on top of bm25()
 * (docs/search.md, "Seventh pass"). A share outside that range — none in a 10,000-memory bench cube:
 * only a word in over half the memories, floored at FTS5's idf of 1e-6, in a long memory — sends the phrase through
 * {@link PHRASE_SCORES_TEXT}. LIMIT keeps the scoring subquery from being flattened into the aggregate, where bm25()
 * cannot run.
 */
const PHRASE_SCORES = `SELECT group_concat(rowid) AS seqs, group_concat(high) AS highs,
    group_concat(CAST((scaled - high) * 17592186044416.0 AS INTEGER)) AS lows FROM (
    SELECT rowid, scaled, CAST(scaled AS INTEGER) AS high FROM (
      SELECT rowid, score * 1073741824.0 AS scaled FROM (
        SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ? LIMIT -1
      )
    )
  )`;
/** The same shares as full-precision text ('%!.17g' round-trips every double): for shares outside the integers' range. */
const PHRASE_SCORES_TEXT = `SELECT group_concat(rowid) AS seqs, group_concat(printf('%!.17g', score)) AS scores FROM (
    SELECT rowid, bm25(memories_fts, ${BM25_WEIGHTS.join(", ")}) AS score FROM memories_fts WHERE memories_fts MATCH ? LIMIT -1
  )`;
/** 2^30 and 2^44, the scales of {@link PHRASE_SCORES}. */
const HIGH_SCALE = 2 ** 30;
const LOW_SCALE = 2 ** 44;

export class TermStats {
  private generation = -1;
  /** The cube's size bound: max(seq), an upper bound of the live count in O(1). */
  private documentsBound = 0;
  private readonly counts = new Map<string, number>();
  private readonly lists = new Map<string, Float64Array>();
  private readonly scored = new Map<string, PhraseScores>();
  private entries = 0;
  private archived = false;

  /**
   * `maxEntries`: the posting-list budget ({@link POSTINGS_MAX_ENTRIES} unless a test lowers it to reach the cap).
   * A list that would take the held entries past it drops every held list first (the next question about those
   * words reads them again); a list longer than the whole budget is still held, alone.
   */
  constructor(
    private readonly sql: SqlStorage,
    private readonly maxEntries = POSTINGS_MAX_ENTRIES,
  ) {}

  /**
   * Starts over when the cube changed since the last call. max(seq) bounds the live count from above: it can only
   * under-drop common terms, never change a ranking.
   */
  use(generation: number): void {
    if (this.generation === generation && this.counts.size <= COUNTS_MAX) return;
    this.generation = generation;
    this.documentsBound = Number(this.sql.exec("SELECT coalesce(max(seq), 0) AS n FROM memories").one().n);
    this.archived = this.sql.exec("SELECT EXISTS (SELECT 1 FROM archived_fts) AS x").one().x === 1;
    this.counts.clear();
    this.lists.clear();
    this.scored.clear();
    this.entries = 0;
  }

  /** Whether the cube holds archived text (archived_fts), as of the last {@link use}: archiving moves the generation. */
  get hasArchivedText(): boolean {
    return this.archived;
  }

  /** Memories in the cube (an upper bound), as of the last {@link use}. */
  get documents(): number {
    return this.documentsBound;
  }

  /** How many memories (in any state) the FTS expression `match` finds. */
  documentCount(match: string): number {
    let count = this.counts.get(match);
    if (count === undefined) {
      count =
        this.lists.get(match)?.length ??
        Number(this.sql.exec("SELECT count(*) AS n FROM memories_fts WHERE memories_fts MATCH ?", match).one().n);
      this.counts.set(match, count);
    }
    return count;
  }

  /**
   * The seqs of the memories (in any state) the FTS expression `match` finds, ascending. One row per list:
   * crossing from SQLite to JavaScript row by row cost several times the scan itself.
   */
  postings(match: string): Float64Array {
    let list = this.lists.get(match) ?? this.scored.get(match)?.seqs;
    if (list === undefined) {
      const joined = this.sql.exec("SELECT group_concat(rowid) AS seqs FROM memories_fts WHERE memories_fts MATCH ?", match).one().seqs;
      list = joined === null ? new Float64Array(0) : integers(String(joined)).sort();
      this.makeRoom(list.length);
      this.lists.set(match, list);
      this.entries += list.length;
      this.counts.set(match, list.length);
    }
    return list;
  }

  /**
   * The memories (in any state) the one-phrase FTS expression `match` finds, ascending by seq, each with the
   * phrase's BM25 share in its row (cube/phrase-ranking.ts). Scoring a phrase's matches costs what FTS5 spends on
   * them in every ranking that names the phrase; kept, a later ranking only adds them up.
   */
  phraseScores(match: string): PhraseScores {
    let list = this.scored.get(match);
    if (list === undefined) {
      list = readPhraseScores(this.sql, match);
      this.makeRoom(2 * list.seqs.length);
      this.scored.set(match, list);
      this.entries += 2 * list.seqs.length;
      this.counts.set(match, list.seqs.length);
    }
    return list;
  }

  private makeRoom(entries: number): void {
    if (this.entries + entries <= this.maxEntries) return;
    this.lists.clear();
    this.scored.clear();
    this.entries = 0;
  }
}

/** A phrase's matches and shares: as integers ({@link PHRASE_SCORES}), or as text if a share is outside their range. */
function readPhraseScores(sql: SqlStorage, match: string): PhraseScores {
  const row = sql.exec(PHRASE_SCORES, match).one();
  if (row.seqs === null) return { seqs: new Float64Array(0), scores: new Float64Array(0) };
  const scores = fromIntegers(String(row.highs), String(row.lows));
  if (scores !== undefined) return ascending(String(row.seqs), scores);
  const text = sql.exec(PHRASE_SCORES_TEXT, match).one();
  return ascending(String(text.seqs), Float64Array.from(String(text.scores).split(","), Number));
}

/**
 * The shares from their integer halves, or undefined when one is outside 2^-22 <= |x| < 2^23 (|high| below 2^8 or
 * from 2^53), where the halves may have lost bits.
 */
function fromIntegers(highsText: string, lowsText: string): Float64Array | undefined {
  const highs = integers(highsText);
  const lows = integers(lowsText);
  if (lows.length !== highs.length) throw new Error("phrase scores' halves disagree");
  const scores = new Float64Array(highs.length);
  for (let i = 0; i < highs.length; i++) {
    const high = highs[i]!;
    if (!(Math.abs(high) >= 2 ** 8 && Math.abs(high) < 2 ** 53)) return undefined;
    scores[i] = (high + lows[i]! / LOW_SCALE) / HIGH_SCALE;
  }
  return scores;
}

const COMMA = 44;
const MINUS = 45;
const ZERO = 48;

/**
 * The integers of SQLite's `group_concat` of INTEGER values ("12,-3,4"), read in place: `split(",")` and `Number`
 * made a string per value, three per posting of every new word (docs/search.md, "Eighth pass"). Exact below 2^53,
 * where each partial value is an integer a double holds; above it the value stays at or past 2^53, which
 * {@link fromIntegers} refuses either way.
 */
export function integers(text: string): Float64Array {
  let count = 1;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === COMMA) count++;
  const values = new Float64Array(count);
  let at = 0;
  let value = 0;
  let negative = false;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : COMMA;
    if (c === COMMA) {
      values[at++] = negative ? -value : value;
      value = 0;
      negative = false;
    } else if (c === MINUS) negative = true;
    else if (c >= ZERO && c <= ZERO + 9) value = value * 10 + (c - ZERO);
    else throw new Error(`not an integer list: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return values;
}

/** Seqs from their joined string with their shares, ordered by seq (FTS5 returns rowids ascending; sorted if not). */
function ascending(seqsText: string, scores: Float64Array): PhraseScores {
  const seqs = integers(seqsText);
  if (seqs.length !== scores.length) throw new Error("phrase scores and rows disagree");
  if (seqs.every((seq, i) => i === 0 || seqs[i - 1]! < seq)) return { seqs, scores };
  const order = Array.from(seqs.keys()).sort((a, b) => seqs[a]! - seqs[b]!);
  return { seqs: Float64Array.from(order, (i) => seqs[i]!), scores: Float64Array.from(order, (i) => scores[i]!) };
}

/** Whether the ascending `list` holds `value` (binary search). */
export function holds(list: Float64Array, value: number): boolean {
  let low = 0;
  let high = list.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const at = list[mid]!;
    if (at === value) return true;
    if (at < value) low = mid + 1;
    else high = mid - 1;
  }
  return false;
}
