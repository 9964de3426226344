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

/** Document counts remembered at most per generation (then the memo starts over). */
const COUNTS_MAX = 10_000;
/** Posting-list entries (memory seqs) remembered at most per generation: 8 MB as Float64Array, then the lists start over. */
export const POSTINGS_MAX_ENTRIES = 1_000_000;

export class TermStats {
  private generation = -1;
  /** The cube's size bound: max(seq), an upper bound of the live count in O(1). */
  private documentsBound = 0;
  private readonly counts = new Map<string, number>();
  private readonly lists = new Map<string, Float64Array>();
  private entries = 0;

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
    this.counts.clear();
    this.lists.clear();
    this.entries = 0;
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
    let list = this.lists.get(match);
    if (list === undefined) {
      const joined = this.sql.exec("SELECT group_concat(rowid) AS seqs FROM memories_fts WHERE memories_fts MATCH ?", match).one().seqs;
      list = joined === null ? new Float64Array(0) : Float64Array.from(String(joined).split(","), Number).sort();
      if (this.entries + list.length > this.maxEntries) {
        this.lists.clear();
        this.entries = 0;
      }
      this.lists.set(match, list);
      this.entries += list.length;
      this.counts.set(match, list.length);
    }
    return list;
  }
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
