/**
 * Filters → SQL over `memories m`. Only placeholders carry values; field names come from fixed lists or a
 * validated metadata path, so nothing a caller writes is spliced into SQL.
 */
import type { MemoryFilter } from "../../src/core/filters";
import { type Scalar, type Where, type WhereCondition, TIME_FIELDS } from "../../src/core/where";

export interface SqlFragment {
  clauses: string[];
  params: unknown[];
}

export const placeholders = (n: number) => Array.from({ length: n }, () => "?").join(", ");

/** The shorthand filter of list and search. */
export function compileFilter(filter: MemoryFilter): SqlFragment {
  // `+m.state`: most memories are live, so the state index (there for the live count) must never drive a plan —
  // with it SQLite sorted whole cubes for "newest ten" and probed every row against vector candidates.
  const clauses: string[] = [`+m.state IN (${placeholders(filter.states.length)})`];
  const params: unknown[] = [...filter.states];
  if (filter.types?.length) {
    clauses.push(`m.type IN (${placeholders(filter.types.length)})`);
    params.push(...filter.types);
  }
  if (filter.tags?.length) {
    // Every wanted tag present, through one parameter however many tags are asked for (100 bind at most).
    clauses.push("NOT EXISTS (SELECT 1 FROM json_each(?) want WHERE want.value NOT IN (SELECT value FROM json_each(m.tags)))");
    params.push(JSON.stringify(filter.tags));
  }
  const compare = (column: string, op: string, value: number | string | undefined) => {
    if (value === undefined) return;
    clauses.push(`m.${column} ${op} ?`);
    params.push(value);
  };
  compare("session_id", "=", filter.sessionId);
  compare("created_at", ">=", filter.createdAfter);
  compare("created_at", "<", filter.createdBefore);
  compare("updated_at", ">=", filter.updatedAfter);
  compare("updated_at", "<", filter.updatedBefore);
  return { clauses, params };
}

/** Memories true at `referenceTime`: already valid, not yet invalid. */
export function validAt(referenceTime: number): SqlFragment {
  return {
    clauses: ["(m.valid_at IS NULL OR m.valid_at <= ?)", "(m.invalid_at IS NULL OR m.invalid_at > ?)"],
    params: [referenceTime, referenceTime],
  };
}

// SQLite's JSON functions give booleans back as 1/0, so compare with those.
const bindable = (v: Scalar) => (typeof v === "boolean" ? (v ? 1 : 0) : v);

/**
 * A validated, normalised {@link Where} as one SQL boolean expression that binds ONE parameter, whatever its size.
 *
 * D1 and Durable Object SQLite bind at most 100 parameters per statement (issue 16, D1): a `where` of 100 `in` values
 * or 50 metadata conditions used to bind one placeholder per value and answered 500. Every value and metadata path
 * now travels in one JSON array bound once; the expression reads element `i` as `w.v ->> i` and lists through
 * `json_each`, inside `EXISTS (SELECT 1 FROM (SELECT ? AS v) w WHERE …)` so that the single placeholder can be read
 * any number of times.
 */
export function compileWhere(where: Where): SqlFragment {
  const values: unknown[] = [];
  const slot = (value: unknown) => {
    values.push(value);
    return values.length - 1;
  };
  const expression = compileNode(where, slot);
  return { clauses: [`EXISTS (SELECT 1 FROM (SELECT ? AS v) w WHERE ${expression})`], params: [JSON.stringify(values)] };
}

/**
 * `a AND b AND c …` parenthesised as a balanced tree: SQLite refuses expression trees deeper than 100
 * ("Expression tree is too large"), and a flat chain of 50 conditions is 50 deep before its operands.
 */
function balanced(terms: string[], joiner: "AND" | "OR"): string {
  if (terms.length === 1) return terms[0]!;
  const half = Math.ceil(terms.length / 2);
  return `(${balanced(terms.slice(0, half), joiner)} ${joiner} ${balanced(terms.slice(half), joiner)})`;
}

/** Puts a value in the shared JSON array and returns its index there. */
type Slot = (value: unknown) => number;

// An explicit stack would read worse than this recursion; whereProblems bounds the depth (WHERE_LIMITS.depth) first.
function compileNode(where: Where, slot: Slot): string {
  if ("and" in where || "or" in where) {
    const children = ("and" in where ? where.and : where.or).map((child) => compileNode(child, slot));
    return balanced(children, "and" in where ? "AND" : "OR");
  }
  // NULL (a missing metadata key) counts as "does not match", so its negation matches.
  if ("not" in where) return `NOT coalesce(${compileNode(where.not, slot)}, 0)`;
  return compileCondition(where, slot);
}

function compileCondition({ field, op, value }: WhereCondition, slot: Slot): string {
  const scalar = (v: Scalar) => `(w.v ->> ${slot(bindable(v))})`;
  const list = (vs: Scalar[]) => `(SELECT value FROM json_each(w.v, '$[${slot(vs.map(bindable))}]'))`;
  if (field === "tags") {
    const values = Array.isArray(value) ? value : [value];
    const any = `EXISTS (SELECT 1 FROM json_each(m.tags) t WHERE t.value IN ${list(values)})`;
    return op === "nin" ? `NOT ${any}` : any;
  }
  let column: string;
  if (field.startsWith("metadata.")) {
    const keys = field.split(".").slice(1);
    const path = `(w.v ->> ${slot(`$${keys.map((key) => `."${key}"`).join("")}`)})`;
    if (op === "contains") {
      const needle = slot(bindable(value as Scalar));
      return `(CASE json_type(m.metadata, ${path})
          WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(m.metadata, ${path}) e WHERE e.value = (w.v ->> ${needle}))
          WHEN 'text' THEN instr(json_extract(m.metadata, ${path}), CAST((w.v ->> ${needle}) AS TEXT)) > 0
          ELSE 0 END)`;
    }
    column = `json_extract(m.metadata, ${path})`;
  } else {
    // State never drives a plan (see compileFilter).
    column = field === "state" ? "+m.state" : `m.${field}`;
    if (!(TIME_FIELDS as readonly string[]).includes(field) && !["type", "state", "session_id"].includes(field)) {
      throw new Error(`unvalidated filter field ${field}`);
    }
  }
  const one = () => (Array.isArray(value) ? value[0]! : value);
  switch (op) {
    case "eq":
      return one() === null ? `${column} IS NULL` : `${column} = ${scalar(one())}`;
    case "ne":
      return `${column} IS NOT ${scalar(one())}`;
    case "in":
      return `${column} IN ${list(value as Scalar[])}`;
    case "nin":
      return `(${column} IS NULL OR ${column} NOT IN ${list(value as Scalar[])})`;
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      return `${column} ${{ gt: ">", gte: ">=", lt: "<", lte: "<=" }[op]} ${scalar(one())}`;
    case "contains":
      throw new Error("contains is only valid on tags and metadata");
  }
}
