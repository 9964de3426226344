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
  for (const tag of filter.tags ?? []) {
    clauses.push("EXISTS (SELECT 1 FROM json_each(m.tags) WHERE json_each.value = ?)");
    params.push(tag);
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

/** A validated, normalised {@link Where} as one SQL boolean expression. */
export function compileWhere(where: Where): SqlFragment {
  if ("and" in where || "or" in where) {
    const children = ("and" in where ? where.and : where.or).map(compileWhere);
    const joiner = "and" in where ? " AND " : " OR ";
    return {
      clauses: [`(${children.map((c) => c.clauses[0]).join(joiner)})`],
      params: children.flatMap((c) => c.params),
    };
  }
  if ("not" in where) {
    const inner = compileWhere(where.not);
    // NULL (a missing metadata key) counts as "does not match", so its negation matches.
    return { clauses: [`NOT coalesce(${inner.clauses[0]}, 0)`], params: inner.params };
  }
  return compileCondition(where);
}

function compileCondition({ field, op, value }: WhereCondition): SqlFragment {
  const values = (Array.isArray(value) ? value : [value]).map(bindable);
  if (field === "tags") {
    const any = `EXISTS (SELECT 1 FROM json_each(m.tags) WHERE json_each.value IN (${placeholders(values.length)}))`;
    return { clauses: [op === "nin" ? `NOT ${any}` : any], params: values };
  }
  let column: string;
  const params: unknown[] = [];
  if (field.startsWith("metadata.")) {
    const path = `$${field
      .slice("metadata".length)
      .split(".")
      .slice(1)
      .map((key) => `."${key}"`)
      .join("")}`;
    if (op === "contains") {
      const sql = `(CASE json_type(m.metadata, ?)
          WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each(m.metadata, ?) WHERE json_each.value = ?)
          WHEN 'text' THEN instr(json_extract(m.metadata, ?), ?) > 0
          ELSE 0 END)`;
      return { clauses: [sql], params: [path, path, values[0], path, String(values[0])] };
    }
    column = "json_extract(m.metadata, ?)";
    params.push(path);
  } else {
    // State never drives a plan (see compileFilter).
    column = field === "state" ? "+m.state" : `m.${field}`;
    if (!(TIME_FIELDS as readonly string[]).includes(field) && !["type", "state", "session_id"].includes(field)) {
      throw new Error(`unvalidated filter field ${field}`);
    }
  }
  // A metadata column carries its own path placeholder, so a clause that names it twice binds the path twice.
  const col = () => column;
  switch (op) {
    case "eq":
      return values[0] === null
        ? { clauses: [`${col()} IS NULL`], params }
        : { clauses: [`${col()} = ?`], params: [...params, values[0]] };
    case "ne":
      return { clauses: [`${col()} IS NOT ?`], params: [...params, values[0]] };
    case "in":
      return { clauses: [`${col()} IN (${placeholders(values.length)})`], params: [...params, ...values] };
    case "nin":
      return {
        clauses: [`(${col()} IS NULL OR ${col()} NOT IN (${placeholders(values.length)}))`],
        params: [...params, ...params, ...values],
      };
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const symbol = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
      return { clauses: [`${col()} ${symbol} ?`], params: [...params, values[0]] };
    }
    case "contains":
      throw new Error("contains is only valid on tags and metadata");
  }
}
