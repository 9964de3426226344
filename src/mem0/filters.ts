/**
 * mem0's filter language → which cube to read and our typed `where` grammar (core/where.ts).
 *
 * mem0 scopes memories by four entity ids and filters with `{AND: [...]}`, `{OR: [...]}`, `{NOT: [...]}` and
 * `{field: value | {op: value}}`. Here a memory lives in the cube of its user (or, without a user, of its agent), so
 * the cube comes from a `user_id` (else an `agent_id`) that the filter requires at its top level; the other entity ids
 * are fields of the memory: `run_id` is its session and `agent_id`/`app_id` sit in reserved metadata keys.
 *
 * Everything that cannot be honoured exactly is refused with a message naming it, never ignored: a filter that
 * silently matched more than it says would leak memories across runs or apps.
 */
import type { OwnerScopeInput } from "../schemas/common";
import { LIMITS } from "../schemas/limits";
import { type Scalar, WHERE_OPS, type Where, type WhereCondition, type WhereOp } from "../core/where";

/** Metadata keys that carry mem0's agent and app ids on a memory (hidden from mem0's `metadata`). */
export const MEM0_AGENT_KEY = "mem0_agent_id";
export const MEM0_APP_KEY = "mem0_app_id";

export const ENTITY_FIELDS = ["user_id", "agent_id", "app_id", "run_id"] as const;
type EntityField = (typeof ENTITY_FIELDS)[number];

/** mem0's comparison operators share our names; `icontains` and full-text `keywords` have no exact equivalent. */
const isOp = (op: string): op is WhereOp => (WHERE_OPS as readonly string[]).includes(op);

export class FilterError extends Error {}

/** Filter objects nested in one another (AND/OR/NOT lists): what the schema's JSON depth bound leaves, halved for the lists between them. */
export const MAX_FILTER_DEPTH = Math.floor(LIMITS.jsonDepth / 2);

export interface TranslatedFilters {
  /** The cube's owner: `{user_id}` or `{agent_id}`. */
  scope: OwnerScopeInput;
  /** The rest of the filter in our grammar (wire form: ISO times), or null when nothing is left. */
  where: Where | null;
}

type Json = unknown;
const isObject = (v: Json): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: Json): v is Scalar => v === null || ["string", "number", "boolean"].includes(typeof v);

/**
 * The owner a filter names at its top level (directly or inside a top-level AND): its `user_id`, else its `agent_id`.
 * An entity id under OR or NOT cannot pick a cube, and two different ones cannot both hold.
 */
export function scopeOf(filters: Record<string, Json>): OwnerScopeInput {
  const required = new Map<EntityField, Set<string>>();
  const collect = (node: Record<string, Json>, depth: number) => {
    if (depth > MAX_FILTER_DEPTH) throw new FilterError(`filters nest deeper than ${MAX_FILTER_DEPTH} levels`);
    for (const [key, value] of Object.entries(node)) {
      if (key === "AND" && Array.isArray(value)) value.filter(isObject).forEach((child) => collect(child, depth + 1));
      if ((key === "user_id" || key === "agent_id") && typeof value === "string" && value !== "*") {
        required.set(key, (required.get(key) ?? new Set()).add(value));
      }
    }
  };
  collect(filters, 1);
  for (const field of ["user_id", "agent_id"] as const) {
    const values = required.get(field);
    if (!values) continue;
    if (values.size > 1) throw new FilterError(`filters require two different ${field}s at once; search one ${field} per call`);
    return { [field]: [...values][0] };
  }
  throw new FilterError("filters must name a user_id (or an agent_id) at the top level or inside a top-level AND: memories are kept per user");
}

/** Translates `filters` for the cube of `scope` (from {@link scopeOf}). */
export function translateFilters(filters: Record<string, Json>): TranslatedFilters {
  const scope = scopeOf(filters);
  const where = node(filters, scope, "filters", 1);
  return { scope, where };
}

/** One filter object: its keys ANDed. */
function node(value: Json, scope: OwnerScopeInput, path: string, depth: number): Where | null {
  if (!isObject(value)) throw new FilterError(`${path} must be an object`);
  // Checked before recursing, so hostile nesting is a 400 and never a stack overflow (issue 16, D3).
  if (depth > MAX_FILTER_DEPTH) throw new FilterError(`${path} nests deeper than ${MAX_FILTER_DEPTH} levels`);
  const parts: Where[] = [];
  for (const [key, inner] of Object.entries(value)) {
    const at = `${path}.${key}`;
    if (key === "AND" || key === "OR" || key === "NOT") {
      if (!Array.isArray(inner) || inner.length === 0) throw new FilterError(`${at} must be a non-empty list of filters`);
      const children = inner.map((child, i) => node(child, scope, `${at}.${i}`, depth + 1));
      // A null child is true of every memory in the cube (it only named the cube's own owner).
      const conditions = children.filter((c): c is Where => c !== null);
      if (key === "AND") parts.push(...conditions);
      else if (key === "OR" && conditions.length === children.length) parts.push({ or: conditions });
      else if (key === "NOT") {
        const negated = andOf(conditions);
        if (!negated) throw new FilterError(`${at} excludes the very owner being searched, so it matches nothing`);
        parts.push({ not: negated });
      }
      // An OR with a true branch is true: nothing to add.
      continue;
    }
    const condition = field(key, inner, scope, at);
    if (condition) parts.push(condition);
  }
  return andOf(parts);
}

function andOf(parts: Where[]): Where | null {
  if (parts.length === 0) return null;
  return parts.length === 1 ? parts[0]! : { and: parts };
}

function field(key: string, value: Json, scope: OwnerScopeInput, at: string): Where | null {
  if ((ENTITY_FIELDS as readonly string[]).includes(key)) return entity(key as EntityField, value, scope, at);
  if (key === "created_at" || key === "updated_at") return comparisons(key, value, at, toIsoTime);
  if (key === "categories") {
    if (typeof value === "string") return { field: "tags", op: "contains", value };
    return comparisons("tags", value, at, (v) => v, ["in", "contains"]);
  }
  if (key === "metadata") {
    if (!isObject(value)) throw new FilterError(`${at} must be an object of metadata keys`);
    const parts = Object.entries(value).map(([name, inner]) => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name) || name === MEM0_AGENT_KEY || name === MEM0_APP_KEY) {
        throw new FilterError(`${at}.${name}: not a metadata key this API can filter on`);
      }
      return isObject(inner) ? comparisons(`metadata.${name}`, inner, `${at}.${name}`, (v) => v) : eq(`metadata.${name}`, inner, `${at}.${name}`);
    });
    return andOf(parts.filter((p): p is Where => p !== null));
  }
  throw new FilterError(`${at}: mem0 filter field ${JSON.stringify(key)} is not supported (supported: user_id, agent_id, app_id, run_id, created_at, updated_at, categories, metadata, AND, OR, NOT)`);
}

/**
 * An entity id. The id that picked the cube is true of every memory in it; a different user id can match nothing
 * there (memories are kept per user), so it is refused rather than answered with a silent empty list.
 */
function entity(key: EntityField, value: Json, scope: OwnerScopeInput, at: string): Where | null {
  const ownerField = scope.user_id !== undefined ? "user_id" : "agent_id";
  const owner = scope.user_id ?? scope.agent_id;
  if (key === ownerField) {
    if (value === owner || value === "*") return null;
    throw new FilterError(`${at}: this search reads the memories of ${ownerField} ${JSON.stringify(owner)}; other ${ownerField}s need their own call`);
  }
  if (key === "user_id") throw new FilterError(`${at}: with agent_id as the scope, give user_id at the top level instead`);
  const target = key === "run_id" ? "session_id" : `metadata.${key === "agent_id" ? MEM0_AGENT_KEY : MEM0_APP_KEY}`;
  if (value === "*") return { field: target, op: "ne", value: null };
  if (isObject(value)) return comparisons(target, value, at, (v) => v, ["eq", "ne", "in", "nin"]);
  return eq(target, value, at);
}

function eq(target: string, value: Json, at: string): WhereCondition {
  if (!isScalar(value)) throw new FilterError(`${at} must be a string, number, boolean or null, or an object of operators`);
  return { field: target, op: "eq", value };
}

/** `{gte: …, lt: …}` → one condition per operator, ANDed. */
function comparisons(
  target: string,
  value: Json,
  at: string,
  convert: (v: Scalar) => Scalar,
  allowed: readonly string[] = WHERE_OPS,
): Where | null {
  if (!isObject(value)) return { field: target, op: "eq", value: convertScalar(value, convert, at) };
  const parts = Object.entries(value).map(([op, operand]): WhereCondition => {
    if (!isOp(op) || !allowed.includes(op)) {
      throw new FilterError(`${at}.${op}: operator not supported here (use ${allowed.join(", ")})`);
    }
    if (op === "in" || op === "nin") {
      if (!Array.isArray(operand)) throw new FilterError(`${at}.${op} needs a list`);
      return { field: target, op, value: operand.map((v, i) => convertScalar(v, convert, `${at}.${op}.${i}`)) };
    }
    return { field: target, op, value: convertScalar(operand, convert, `${at}.${op}`) };
  });
  return andOf(parts);
}

function convertScalar(value: Json, convert: (v: Scalar) => Scalar, at: string): Scalar {
  if (!isScalar(value)) throw new FilterError(`${at} must be a string, number, boolean or null`);
  return convert(value);
}

/** mem0 accepts dates (`2024-07-01`) where we compare ISO times: a date means its midnight UTC. */
function toIsoTime(value: Scalar): Scalar {
  return typeof value === "string" && /^\d{4}-\d\d-\d\d$/.test(value) ? `${value}T00:00:00Z` : value;
}
