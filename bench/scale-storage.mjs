// Bytes the scale bench's stores hold, as SQLite uses them (issue 14, item 6: storage growth per day).
//
// The persisted files' sizes overstate growth: the write-ahead log holds every changed page until a checkpoint, and
// SQLite grows a file in pages and keeps freed pages. So each SQLite file of the local state (D1 under v3/d1, each
// Durable Object under v3/do) is copied with its WAL to a scratch directory, opened there — which replays the WAL as
// a checkpoint would — and measured with the dbstat virtual table: the bytes of its b-tree pages in use (rows, index
// entries and their cell headers), without WAL, free pages or the unused tail of pages. R2 stays the size of its blob
// files (objects are stored whole). Needs Node 22's node:sqlite (the bench runs on the npm package's Node 22).
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";

/** node:sqlite prints an ExperimentalWarning when first loaded; the bench's output is JSON, so keep it out. */
async function loadSqlite() {
  const emit = process.emitWarning;
  process.emitWarning = /** @type {typeof process.emitWarning} */ (
    (warning, ...rest) => {
      const text = typeof warning === "string" ? warning : warning.message;
      if (!/SQLite is an experimental feature/.test(text)) emit.call(process, warning, .../** @type {[any]} */ (rest));
    }
  );
  try {
    return await import("node:sqlite");
  } finally {
    process.emitWarning = emit;
  }
}

/** @param {string} dir @returns {string[]} every file below dir */
function filesUnder(dir) {
  /** @type {string[]} */
  const found = [];
  const walk = (/** @type {string} */ p) => {
    let info;
    try {
      info = statSync(p);
    } catch {
      return;
    }
    if (info.isDirectory()) for (const entry of readdirSync(p)) walk(path.join(p, entry));
    else found.push(p);
  };
  walk(dir);
  return found;
}

/** Bytes in use in one SQLite database file (its WAL replayed), from dbstat. @param {any} sqlite @param {string} file */
function bytesInUse(sqlite, file) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "memos-scale-db-"));
  try {
    const copy = path.join(scratch, "db.sqlite");
    copyFileSync(file, copy);
    if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${copy}-wal`);
    const db = new sqlite.DatabaseSync(copy);
    try {
      const row = db.prepare("SELECT coalesce(sum(pgsize - unused), 0) AS used FROM dbstat").get();
      return Number(row?.used ?? 0);
    } finally {
      db.close();
    }
  } catch {
    // A file caught mid-creation (or not a database): it holds nothing worth counting yet.
    return 0;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * Bytes held by each store of the state dir: `d1`, `do` (every Durable Object together) and `do_by_class` (by the
 * folder wrangler names after the class, e.g. `memos-edge-Cube`), `r2` (blob files).
 * @param {string} stateDir
 * @returns {Promise<{ d1: number, do: number, r2: number, do_by_class: Record<string, number> }>}
 */
export async function storedBytesInUse(stateDir) {
  const sqlite = await loadSqlite();
  const root = path.join(stateDir, "v3");
  const sizes = { d1: 0, do: 0, r2: 0, do_by_class: /** @type {Record<string, number>} */ ({}) };
  for (const file of filesUnder(path.join(root, "d1")).filter((f) => f.endsWith(".sqlite"))) sizes.d1 += bytesInUse(sqlite, file);
  for (const file of filesUnder(path.join(root, "do")).filter((f) => f.endsWith(".sqlite"))) {
    const used = bytesInUse(sqlite, file);
    const kind = path.relative(path.join(root, "do"), file).split(path.sep)[0] ?? "?";
    sizes.do += used;
    sizes.do_by_class[kind] = (sizes.do_by_class[kind] ?? 0) + used;
  }
  for (const file of filesUnder(path.join(root, "r2")).filter((f) => !/\.sqlite(-wal|-shm)?$/.test(f))) sizes.r2 += statSync(file).size;
  return sizes;
}
