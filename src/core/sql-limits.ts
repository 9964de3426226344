/**
 * SQLite limits that D1 and Durable Object storage impose on every statement (docs/platform-limits.md).
 * Local workerd enforces the same number (test/adapters/platform-limits.test.ts proves it), so a statement that
 * binds too much fails in tests exactly as in production.
 */

/** Bound parameters per statement, in D1 and in Durable Object SQLite alike ("too many SQL variables" past it). */
export const MAX_BOUND_PARAMETERS = 100;

/** Ids per `IN (…)` list: leaves room for the statement's other parameters. */
export const ID_LIST_CHUNK = 90;

/**
 * Rows per multi-row `INSERT … VALUES` of a table with `columns` columns. An ORM may bind a value for every
 * column (defaults included), so the column count, not the values a caller passes, is what bounds the statement.
 */
export function rowsPerInsert(columns: number): number {
  if (!Number.isInteger(columns) || columns < 1 || columns > MAX_BOUND_PARAMETERS) throw new Error(`cannot insert rows of ${columns} columns`);
  return Math.floor(MAX_BOUND_PARAMETERS / columns);
}
