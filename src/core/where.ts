/**
 * The typed filter grammar of search: `{and: [...]}`, `{or: [...]}`, `{not: …}` and conditions
 * `{field, op, value}` on type, state, tags, session_id, created_at, updated_at, valid_at, invalid_at and
 * metadata.<path>. This module checks that each condition makes sense (an op the field supports, a value of the
 * right type) and normalises times to ms; the Durable Object compiles the result to SQL with placeholders only.
 */
import { MEMORY_STATES } from "./lifecycle";

export const WHERE_OPS = ["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains"] as const;
export type WhereOp = (typeof WHERE_OPS)[number];
export type Scalar = string | number | boolean | null;
export type WhereValue = Scalar | Scalar[];

export type Where = { and: Where[] } | { or: Where[] } | { not: Where } | WhereCondition;
export interface WhereCondition {
  field: string;
  op: WhereOp;
  value: WhereValue;
}

/** Fields whose values are times: ISO-8601 on the wire, ms once normalised. */
export const TIME_FIELDS = ["created_at", "updated_at", "valid_at", "invalid_at"] as const;
/** Text columns with equality semantics. */
export const TEXT_FIELDS = ["type", "state", "session_id"] as const;
/** `metadata.` followed by 1–5 dot-separated keys of word characters (no quoting games reach SQL). */
export const METADATA_FIELD = /^metadata(\.[A-Za-z0-9_-]{1,64}){1,5}$/;

/** Most conditions one filter may hold, and how deep it may nest: bounded work per query. */
export const WHERE_LIMITS = { conditions: 50, depth: 4, listValues: 100 } as const;

const EQUALITY: readonly WhereOp[] = ["eq", "ne", "in", "nin"];
const ORDERING: readonly WhereOp[] = ["eq", "ne", "gt", "gte", "lt", "lte"];

function opsFor(field: string): readonly WhereOp[] | null {
  if ((TEXT_FIELDS as readonly string[]).includes(field)) return EQUALITY;
  if ((TIME_FIELDS as readonly string[]).includes(field)) return ORDERING;
  if (field === "tags") return ["contains", "in", "nin"];
  if (METADATA_FIELD.test(field)) return WHERE_OPS;
  return null;
}

const isList = (op: WhereOp) => op === "in" || op === "nin";

/** Every problem with a filter, as `path: message` strings; empty when it is valid. */
export function whereProblems(where: Where, path = "where"): string[] {
  const problems: string[] = [];
  let conditions = 0;
  const visit = (node: Where, at: string, depth: number) => {
    if (depth > WHERE_LIMITS.depth) {
      problems.push(`${at}: nests deeper than ${WHERE_LIMITS.depth} levels`);
      return;
    }
    if ("and" in node) return node.and.forEach((child, i) => visit(child, `${at}.and.${i}`, depth + 1));
    if ("or" in node) return node.or.forEach((child, i) => visit(child, `${at}.or.${i}`, depth + 1));
    if ("not" in node) return visit(node.not, `${at}.not`, depth + 1);
    conditions++;
    problems.push(...conditionProblems(node).map((message) => `${at}: ${message}`));
  };
  visit(where, path, 1);
  if (conditions > WHERE_LIMITS.conditions) problems.push(`${path}: more than ${WHERE_LIMITS.conditions} conditions`);
  return problems;
}

function conditionProblems({ field, op, value }: WhereCondition): string[] {
  const ops = opsFor(field);
  if (!ops) return [`unknown field ${JSON.stringify(field)}`];
  if (!ops.includes(op)) return [`${field} does not support ${op} (use ${ops.join(", ")})`];
  if (isList(op)) {
    if (!Array.isArray(value) || value.length === 0 || value.length > WHERE_LIMITS.listValues) {
      return [`${op} needs a list of 1–${WHERE_LIMITS.listValues} values`];
    }
  } else if (Array.isArray(value)) {
    return [`${op} needs a single value, not a list`];
  }
  const values = Array.isArray(value) ? value : [value];
  if ((TIME_FIELDS as readonly string[]).includes(field)) {
    if (!values.every((v) => typeof v === "string" && !Number.isNaN(Date.parse(v)) && /^\d{4}-\d\d-\d\dT/.test(v))) {
      return [`${field} compares with ISO-8601 times`];
    }
  } else if (field === "state") {
    const bad = values.filter((v) => !(MEMORY_STATES as readonly unknown[]).includes(v));
    if (bad.length) return [`unknown state ${JSON.stringify(bad[0])}`];
  } else if (field === "session_id" && (op === "eq" || op === "ne") && value === null) {
    // A memory without a session: `eq null` finds those, `ne null` every memory that has one.
  } else if (field === "tags" || field === "type" || field === "session_id") {
    if (!values.every((v) => typeof v === "string")) return [`${field} compares with strings (session_id also with null, by eq or ne)`];
  } else if (["gt", "gte", "lt", "lte"].includes(op) && !values.every((v) => typeof v === "string" || typeof v === "number")) {
    return [`${op} compares with a number or a string`];
  } else if (op === "contains" && !values.every((v) => typeof v === "string" || typeof v === "number")) {
    return ["contains takes a string or a number"];
  }
  return [];
}

/** The same filter with time values as ms. Call only on a filter {@link whereProblems} accepted. */
export function normaliseWhere(where: Where): Where {
  if ("and" in where) return { and: where.and.map(normaliseWhere) };
  if ("or" in where) return { or: where.or.map(normaliseWhere) };
  if ("not" in where) return { not: normaliseWhere(where.not) };
  if (!(TIME_FIELDS as readonly string[]).includes(where.field)) return where;
  const toMs = (v: Scalar) => (typeof v === "string" ? Date.parse(v) : v);
  return { ...where, value: Array.isArray(where.value) ? where.value.map(toMs) : toMs(where.value) };
}
