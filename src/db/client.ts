import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

/** The control-plane database, typed by ./schema. */
export type Db = ReturnType<typeof buildDb>;

const buildDb = (d1: D1Database) => drizzle(d1, { schema });

/**
 * One client per D1 binding object. Building one walks the whole schema (drizzle's relational config): measured at
 * 8% of a single-memory write's CPU when it ran on every request (docs/hot-path.md, issue 14 item 7).
 */
const clients = new WeakMap<D1Database, Db>();

export function createDb(d1: D1Database): Db {
  let db = clients.get(d1);
  if (!db) clients.set(d1, (db = buildDb(d1)));
  return db;
}
