/**
 * The memory filter shared by list and search, in internal form (times in ms, lists normalised).
 * The wire form lives in schemas/memory.ts; the Durable Object compiles this form to SQL.
 */
import { LIVE_STATES, type MemoryState } from "./lifecycle";
import { fromIso } from "./time";

export interface MemoryFilter {
  types?: string[];
  /** States to show; when absent, {@link LIVE_STATES}. */
  states: readonly MemoryState[];
  /** Tags the memory must all carry. */
  tags?: string[];
  sessionId?: string;
  /** Inclusive lower and exclusive upper bounds, ms. */
  createdAfter?: number;
  createdBefore?: number;
  updatedAfter?: number;
  updatedBefore?: number;
}

/** The wire filter fields as validated by the schemas (a value or a list of values per field). */
export interface MemoryFilterInput {
  type?: string | string[] | undefined;
  state?: MemoryState | MemoryState[] | undefined;
  tags?: string | string[] | undefined;
  session_id?: string | undefined;
  created_after?: string | undefined;
  created_before?: string | undefined;
  updated_after?: string | undefined;
  updated_before?: string | undefined;
}

const asList = <T>(value: T | T[] | undefined): T[] | undefined =>
  value === undefined ? undefined : Array.isArray(value) ? [...new Set(value)] : [value];

const ms = (iso: string | undefined) => (iso === undefined ? undefined : fromIso(iso));

export function toMemoryFilter(input: MemoryFilterInput): MemoryFilter {
  const filter: MemoryFilter = { states: asList(input.state) ?? LIVE_STATES };
  const types = asList(input.type);
  const tags = asList(input.tags);
  if (types) filter.types = types;
  if (tags) filter.tags = tags;
  if (input.session_id !== undefined) filter.sessionId = input.session_id;
  const bounds = {
    createdAfter: ms(input.created_after),
    createdBefore: ms(input.created_before),
    updatedAfter: ms(input.updated_after),
    updatedBefore: ms(input.updated_before),
  };
  for (const [key, value] of Object.entries(bounds)) {
    if (value !== undefined) filter[key as keyof typeof bounds] = value;
  }
  return filter;
}
