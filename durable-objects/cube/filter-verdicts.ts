/**
 * Which memories pass a search's filter, remembered for the length of one search. The lexical ranking, its
 * expansion and the sub-queries each check their best candidates against the same filter, and their candidates
 * are mostly the same memories: the filter query reads each memory's row (a large one: content, metadata), so
 * each memory is now checked once per search instead of once per ranking (docs/search.md).
 */
export class FilterVerdicts {
  /** By filter and parameters: a memory's seq → its id when it passes, null when it does not (or is gone). */
  private readonly verdicts = new Map<string, Map<number, string | null>>();

  constructor(private readonly sql: SqlStorage) {}

  /** Forgets every verdict: a new search has a new filter (its reference time at least) and may follow a change. */
  clear(): void {
    this.verdicts.clear();
  }

  /** The ids of up to `limit` of `seqs` that pass `filter` (an SQL condition on memories `m`), in their order. */
  passing(seqs: readonly number[], filter: string, params: readonly unknown[], limit: number): string[] {
    const key = `${filter}\u0000${JSON.stringify(params)}`;
    let known = this.verdicts.get(key);
    if (!known) this.verdicts.set(key, (known = new Map()));
    const unknown = seqs.filter((seq) => !known.has(seq));
    if (unknown.length > 0) {
      for (const seq of unknown) known.set(seq, null);
      const rows = this.sql.exec(
        `SELECT m.seq, m.id FROM memories m WHERE m.seq IN (SELECT value FROM json_each(?)) AND ${filter}`,
        JSON.stringify(unknown),
        ...(params as SqlStorageValue[]),
      );
      for (const row of rows) known.set(Number(row.seq), String(row.id));
    }
    const kept: string[] = [];
    for (const seq of seqs) {
      const id = known.get(seq);
      if (id != null) kept.push(id);
      if (kept.length === limit) break;
    }
    return kept;
  }
}
