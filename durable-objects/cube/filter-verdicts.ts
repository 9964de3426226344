/**
 * Which search candidates pass the request's filter, remembered per cube generation. Every ranking of a search (the
 * question's, the expanded one, the sub-queries, the vector channel's) checks its best few hundred candidates against
 * the filter, and the rankings of one search, and of the searches that follow, check the same memories again and
 * again: a SQL join per ranking was a quarter of a 10,000-memory search once the rankings themselves were summed in
 * memory (docs/search.md, "Where a search's time goes").
 *
 * The filter is split in two: the part that depends only on the memory row (states, types, tags, session, times
 * given in the request, the `where` grammar, the sub-queries' source condition), whose verdict per memory holds until
 * the cube changes, and validity at the request's reference time, which moves with every request and is judged here
 * from the row's `valid_at` and `invalid_at`. A verdict is read once per generation and filter; the Durable Object
 * bumps the generation on every change of a memory (write, update, forget, lifecycle step, restore), as the term
 * statistics (cube/term-stats.ts) and the working-memory cache rely on too. Reads (access counts) do not move it, and
 * no filter reads them.
 */
import type { SqlFragment } from "./filters";

/** A search's filter: the whole of it as SQL, and the same split into what the row alone decides and the time. */
export interface SearchFilter extends SqlFragment {
  /** Conditions on the memory row `m` that do not depend on the time of the request. */
  timeless: SqlFragment;
  /** ms: memories must be valid then (`valid_at ≤ at < invalid_at`, nulls open). */
  at: number;
}

/**
 * Memories whose verdicts are remembered at most per generation, over all filters (then they start over): ~150 bytes
 * each (the verdict and its two map entries, by seq and by id), so ~7.5 MB of the isolate's 128 MB at most.
 */
export const VERDICTS_MAX = 50_000;

interface Verdict {
  id: string;
  passes: boolean;
  validFrom: number | null;
  validUntil: number | null;
}

const NOT_FOUND: Verdict = { id: "", passes: false, validFrom: null, validUntil: null };

/** See the file comment. */
export class FilterVerdicts {
  private generation = -1;
  /** By the timeless filter (SQL and params), by memory seq and by memory id. */
  private readonly byFilter = new Map<string, Map<number | string, Verdict>>();
  /** Every memory read here, its seq by id (whatever the filter): lexical coverage needs the seqs of its candidates. */
  private readonly seqs = new Map<string, number>();
  private size = 0;

  /** `maxVerdicts`: memories remembered before the next {@link use} starts over (a test's small cap; else VERDICTS_MAX). */
  constructor(
    private readonly sql: SqlStorage,
    private readonly maxVerdicts = VERDICTS_MAX,
  ) {}

  /** Starts over when the cube changed since the last call, or when more than `maxVerdicts` memories were read. */
  use(generation: number): void {
    if (this.generation === generation && this.size <= this.maxVerdicts) return;
    this.generation = generation;
    this.byFilter.clear();
    this.seqs.clear();
    this.size = 0;
  }

  /** The seq of memory `id` if this generation read its row, else undefined (then ask SQL). */
  seqOf(id: string): number | undefined {
    return this.seqs.get(id);
  }

  /**
   * Up to `limit` of `candidates` (memory seqs or ids, best first) that pass `filter` and the extra timeless
   * condition `extra` (SQL on `m`), in their order, as ids.
   */
  passing(column: "seq" | "id", candidates: readonly (number | string)[], filter: SearchFilter, extra: string | null, limit: number): string[] {
    const clauses = extra === null ? filter.timeless.clauses : [...filter.timeless.clauses, extra];
    const condition = clauses.length > 0 ? clauses.join(" AND ") : "1";
    const key = `${condition}\u0000${JSON.stringify(filter.timeless.params)}`;
    let verdicts = this.byFilter.get(key);
    if (!verdicts) {
      verdicts = new Map();
      this.byFilter.set(key, verdicts);
    }
    const unknown = candidates.filter((candidate) => !verdicts.has(candidate));
    if (unknown.length > 0) this.load(column, unknown, condition, filter.timeless.params, verdicts);
    const kept: string[] = [];
    for (const candidate of candidates) {
      if (kept.length === limit) break;
      const verdict = verdicts.get(candidate) ?? NOT_FOUND;
      if (!verdict.passes) continue;
      if (verdict.validFrom !== null && verdict.validFrom > filter.at) continue;
      if (verdict.validUntil !== null && verdict.validUntil <= filter.at) continue;
      kept.push(verdict.id);
    }
    return kept;
  }

  private load(column: "seq" | "id", candidates: readonly (number | string)[], condition: string, params: readonly unknown[], into: Map<number | string, Verdict>): void {
    // Parameters are numbered in the order they appear: the condition's (in the select list) before the list's.
    const rows = this.sql.exec(
      `SELECT m.seq AS seq, m.id AS id, (${condition}) AS passes, m.valid_at AS valid_from, m.invalid_at AS valid_until
         FROM json_each(?) r JOIN memories m ON m.${column} = r.value`,
      ...(params as SqlStorageValue[]),
      JSON.stringify(candidates),
    );
    for (const row of rows) {
      const verdict: Verdict = {
        id: String(row.id),
        passes: row.passes === 1,
        validFrom: row.valid_from === null ? null : Number(row.valid_from),
        validUntil: row.valid_until === null ? null : Number(row.valid_until),
      };
      into.set(Number(row.seq), verdict);
      into.set(verdict.id, verdict);
      this.seqs.set(verdict.id, Number(row.seq));
    }
    // Candidates that are no memory (a vector left behind by a purge) fail, and are not asked about again.
    for (const candidate of candidates) if (!into.has(candidate)) into.set(candidate, NOT_FOUND);
    this.size += candidates.length;
  }
}
