// The fold of every journal, kept between runs in <stateDir>/rmtabsync.fold
// (a local SQLite file, 0600), with a high-water mark per journal: the last
// event folded and its hash. A reconcile then reads only the events past the
// marks, and checks their chain from the marked hash. It is a cache, never
// the truth: missing, damaged, written by another configuration or another
// version, it reads as empty and the next reconcile folds every journal
// again. It is written only after rmtab is durable.
import { randomBytes } from "node:crypto";
import { readdirSync, renameSync, rmSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import Database from "better-sqlite3";
import type { Fold, JournalEvent, Op } from "../core/events.js";
import { entryKey, foldLine, linesProblem, type RmtabEntry } from "../core/rmtab.js";
import type { ExportImage } from "../core/plan.js";
import { fnv1a } from "../core/entry-index.js";
import type { Hlc } from "../core/hlc.js";
import { createExclusive, fsyncPath, lstatIfExists, refuseSymlink } from "./files.js";
import type { JournalProblem } from "./control.js";
import type { LatestImport, LatestSource } from "./journal.js";
import { compareEvents } from "../core/events.js";

const FORMAT = "rmtabsync-fold-cache 4";

// A fold row is kept under its export (the configuration's, "" for an
// unmanaged path; the cache key covers the configuration) with the rmtab
// line it stands for (null: no line, a count of 0 or an entry mountd could
// not read back), so that the lines of a whole export come out of one range
// scan in the plan's order (a takeover rebuilding 100k lines joins them
// without a JS object per line), of an index holding only the lines.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (file TEXT PRIMARY KEY, journal_id TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, problem TEXT, recompacted TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fold (export TEXT NOT NULL, client TEXT NOT NULL, path TEXT NOT NULL, journal TEXT NOT NULL, seq INTEGER NOT NULL, wall INTEGER NOT NULL,
  logical INTEGER NOT NULL, node TEXT NOT NULL, op TEXT NOT NULL, count INTEGER NOT NULL, hash TEXT NOT NULL, line TEXT, PRIMARY KEY (export, client, path)) WITHOUT ROWID;
`;
// made once a new file holds its rows (sorted once, not kept up row by row), kept up from then on
const INDEXES = `
CREATE INDEX IF NOT EXISTS fold_lines ON fold (export, client, path, count, line) WHERE line IS NOT NULL;
CREATE INDEX IF NOT EXISTS fold_unwritable ON fold (export) WHERE count > 0 AND line IS NULL;
`;

/** What a reconcile folded of one journal file. */
export interface CachedSource {
  readonly journalId: string;
  /** High-water mark: the last event read (folded, or rejected for good). */
  readonly seq: number;
  readonly hash: string;
  /** A problem with events before the mark that stays until the journal is folded again from the start. */
  readonly problem?: JournalProblem;
  /** The journal's recompaction token when folded (see JournalWriter.pruneVerbatim). */
  readonly recompacted?: string;
}

/** When nothing moved since the last reconcile, it has nothing to do. */
export interface Unchanged {
  /** journalStamp of every journal file, by file. */
  readonly journals: Readonly<Record<string, string>>;
  /** sha256 of rmtab and etab as the last reconcile left them. */
  readonly rmtab: string;
  readonly etab: string;
  readonly hosting: readonly string[];
  /** Problems that reconcile had (it was add-only if any). */
  readonly problems: readonly JournalProblem[];
  /** How many lines rmtab had (what its hash names); older caches lack it. */
  readonly entries?: number;
}

export interface FoldCacheState {
  readonly sources: ReadonlyMap<string, CachedSource>;
  /** Highest stamp of every event folded. */
  readonly seen: Hlc;
  readonly unchanged: Unchanged | undefined;
}

export function foldCacheFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.fold");
}

/** The cache for `key` (configuration and node), or undefined when there is none usable. */
export class FoldCache {
  private constructor(
    private db: Database.Database | undefined,
    readonly state: FoldCacheState,
  ) {}

  /**
   * Opens the cache; undefined when it is missing, damaged, or made for
   * another key. Never throws. `readOnly` (status): a crash-left journal
   * beside it is not rolled back, and the cache reads as missing.
   */
  static open(stateDir: string, key: string, opts: { readOnly?: boolean } = {}): FoldCache | undefined {
    const file = foldCacheFile(stateDir);
    let db: Database.Database | undefined;
    try {
      if (!lstatIfExists(file)?.isFile()) return undefined;
      db = new Database(file, { fileMustExist: true, timeout: 5000, readonly: opts.readOnly === true });
      db.pragma(`cache_size = ${CACHE_KIB}`);
      const meta = new Map((db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
      if (meta.get("format") !== FORMAT || meta.get("key") !== key) {
        db.close();
        return undefined;
      }
      const sources = new Map<string, CachedSource>();
      for (const r of db.prepare("SELECT file, journal_id, seq, hash, problem, recompacted FROM sources").all() as {
        file: string;
        journal_id: string;
        seq: number;
        hash: string;
        problem: string | null;
        recompacted: string | null;
      }[])
        sources.set(r.file, {
          journalId: r.journal_id,
          seq: r.seq,
          hash: r.hash,
          ...(r.problem ? { problem: JSON.parse(r.problem) as JournalProblem } : {}),
          ...(r.recompacted ? { recompacted: r.recompacted } : {}),
        });
      const seen = JSON.parse(meta.get("seen") ?? "null") as Hlc | null;
      const unchanged = meta.has("unchanged") ? (JSON.parse(meta.get("unchanged")!) as Unchanged) : undefined;
      if (!seen || !Number.isSafeInteger(seen.wall) || !Number.isSafeInteger(seen.logical)) throw new Error("no clock");
      return new FoldCache(db, { sources, seen, unchanged });
    } catch {
      db?.close();
      return undefined;
    }
  }

  /** The cached fold, read as it is needed; the store owns the file's connection from now on. */
  store(exportOf?: ExportOf): FoldStore {
    const db = this.db;
    if (!db) throw new Error("the fold cache was closed");
    this.db = undefined;
    return FoldStore.onCache(db, exportOf);
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}

/** A fold cache that failed while it was read (a damaged page): the run starts again without it. */
export class FoldCacheDamaged extends Error {}

/** SQLite's page cache per connection (KiB, as a negative cache_size): the fold is read once, in order, or by key. */
const CACHE_KIB = -2000;
/**
 * A new fold keeps at most this many entries in memory; the rest wait in its
 * file. Small, so that entries go to the file before they outlive V8's young
 * generation: a cold fold of 100k keys held 16,384 at a time moved each
 * batch into the old generation only to drop it there (73 MB of heap for
 * 12 MB live).
 */
const SPILL_AT = 1024;
const BUSY_MS = 5000;
/** The schema name importLatest attaches a journal file under. */
const IMPORT_SCHEMA = "journal_src";
/** foldLine in SQL, for a row that passed rowProblem (a count above 0 is then an entry mountd reads back): formatLine's line. */
const SQL_FOLD_LINE = "CASE WHEN count > 0 THEN replace(client, ':', ';') || ':' || path || ':0x' || printf('%08x', count) || char(10) END";
/** A row importLatest's check refused (the import is rolled back). */
class ImportRefused extends Error {}
type Stamped = { wall: number; logical: number; node: string; count: number };
const FOLD_COLUMNS = "client, path, journal, seq, wall, logical, node, op, count, hash";
type FoldRow = [string, string, string, number, number, number, string, Op, number, string];

/** The name of the export a path belongs to, "" for an unmanaged one. */
export type ExportOf = (path: string) => string;
const NO_EXPORTS: ExportOf = () => "";

/**
 * The fold a reconcile works on: the rows of the fold cache (or of a new
 * file that becomes the cache), read by key as they are needed, and the
 * entries this run changed, in memory until they are saved. A reconcile
 * that changes a few keys never loads the rest; a cold one never holds
 * every entry in memory at once. Whatever it reads is what was folded
 * before (the cache) or in this run (a new file): it never differs from a
 * fold held in memory.
 */
export class FoldStore {
  /** Entries set in this run and not yet written to the file. */
  private readonly overlay: Fold = new Map();
  private readonly byKey: Database.Statement | undefined;
  /** Whether the file may hold rows (a new one holds none until the first spill). */
  private rows: boolean;
  /** A new file's keys that went to it: only those are looked up there (the cache's may all be). */
  private readonly spilled: KeyFilter | undefined;
  private saved = false;
  /** Why a new fold cannot become the cache (its file could not be made or written): it stays in memory. */
  private unsaveable: string | undefined;
  /** The cache's own file holds this run's changes in a transaction that save() commits (see images). */
  private inTransaction = false;
  /** Rows went to a new file by importLatest, whose keys `spilled` does not know: every key is looked up. */
  private imported = false;
  /** The row check of the import in progress (see importLatest). */
  private importing: LatestSource | undefined;

  private constructor(
    private readonly db: Database.Database | undefined,
    /** A new file, renamed over the cache by save(); undefined: the cache file itself (or no file). */
    private readonly temp: string | undefined,
    rows: boolean,
    private readonly exportOf: ExportOf,
    private readonly spillAt = SPILL_AT,
  ) {
    this.rows = rows;
    this.spilled = temp === undefined ? undefined : new KeyFilter();
    this.byKey = db?.prepare(`SELECT ${FOLD_COLUMNS} FROM fold WHERE export = ? AND client = ? AND path = ?`).raw();
    if (db && temp !== undefined) {
      // importLatest's row check (it names the row's export), and the fold's rule when two journals hold a key
      db.function("rmtabsync_checked", { directOnly: true, varargs: true }, (...row: unknown[]) => {
        const why = this.importing!.check(row);
        if (why !== undefined) throw new ImportRefused(why);
        return this.exportOf(row[8] as string);
      });
      db.function("rmtabsync_wins", { directOnly: true, deterministic: true }, (wall, logical, node, count, wall0, logical0, node0, count0) =>
        compareEvents({ wall, logical, node, count } as Stamped, { wall: wall0, logical: logical0, node: node0, count: count0 } as Stamped) > 0 ? 1 : 0,
      );
    }
  }

  /** The fold cache's rows, with this run's changes kept apart until save(). */
  static onCache(db: Database.Database, exportOf: ExportOf = NO_EXPORTS): FoldStore {
    return new FoldStore(db, undefined, true, exportOf);
  }

  /**
   * A new, empty fold in a new file beside the cache (`stateDir`), or in
   * memory only (`stateDir` undefined: a dry run; or the file cannot be
   * made: then save() fails and says why). `spillAt`: see SPILL_AT.
   */
  static fresh(stateDir: string | undefined, spillAt = SPILL_AT, exportOf: ExportOf = NO_EXPORTS): FoldStore {
    let temp: string | undefined;
    let db: Database.Database | undefined;
    let why = "a dry run's fold is not kept";
    try {
      if (stateDir !== undefined) {
        removeStaleTemps(stateDir);
        temp = `${foldCacheFile(stateDir)}.tmp-${randomBytes(6).toString("hex")}`;
        createExclusive(temp, 0o600);
        db = new Database(temp, { fileMustExist: true, timeout: BUSY_MS });
        // renamed into place only once complete and synced (save): a crash leaves a file nobody reads, so the
        // rollback journal only has to serve a failed write (disk full), and stays in memory
        db.pragma("journal_mode = MEMORY");
        db.pragma("synchronous = OFF");
        db.pragma(`cache_size = ${CACHE_KIB}`);
        db.exec(SCHEMA);
      }
    } catch (err) {
      why = `its new file could not be made: ${err instanceof Error ? err.message : String(err)}`;
      db?.close();
      if (temp) rmSync(temp, { force: true });
      temp = undefined;
      db = undefined;
    }
    if (db) return new FoldStore(db, temp, false, exportOf, spillAt);
    const store = new FoldStore(undefined, undefined, false, exportOf);
    store.unsaveable = why;
    return store;
  }

  /** A fold with nothing in it and no file (record, which folds nothing; save() fails). */
  static none(): FoldStore {
    return new FoldStore(undefined, undefined, false, NO_EXPORTS);
  }

  get(key: string): JournalEvent | undefined {
    const e = this.overlay.get(key);
    if (e !== undefined || !this.rows || !this.byKey || (this.spilled && !this.imported && !this.spilled.mayHave(key))) return e;
    const nl = key.indexOf("\n");
    const path = key.slice(nl + 1);
    const row = this.guard(() => this.byKey!.get(this.exportOf(path), key.slice(0, nl), path) as FoldRow | undefined);
    return row && toEvent(row);
  }

  /** Sets the entry of `key` (the caller folded it: it wins over what get returned). */
  set(key: string, e: JournalEvent): void {
    this.overlay.set(key, e);
    if (this.temp !== undefined && this.overlay.size >= this.spillAt && this.unsaveable === undefined) this.spill();
  }

  /**
   * The lean cold path: a journal's latest-event rows go into a new file in
   * one INSERT ... SELECT from the journal file, attached (see
   * LatestImporter), with the same rows, export and line as set() and a
   * spill would write, and the fold's rule (compareEvents) where a key is
   * there already. Only a new file imports (the cache's rows are read by
   * key); this run's entries in memory go to it first.
   */
  importLatest(src: LatestSource): LatestImport {
    const db = this.db;
    if (!db || this.temp === undefined || this.unsaveable !== undefined) return "unavailable";
    if (this.overlay.size > 0) {
      this.spill();
      if (this.unsaveable !== undefined) return "unavailable";
    }
    // The reader's connection holds the file's shared lock, and this connection shares it (SQLite counts
    // one process's shared locks on a file as one): a writer waiting to commit (its pending lock, which
    // refuses other processes' new readers) does not stop the import (test/latest-table.test.ts). Should a
    // lock be refused all the same, there is no wait: the rows are read one by one instead.
    // ATTACH creates a missing file: never one in the journals' directory (a journal unlinked since it was read)
    if (!lstatIfExists(src.file)?.isFile()) return "unavailable";
    db.pragma("busy_timeout = 0");
    try {
      db.prepare(`ATTACH DATABASE ? AS ${IMPORT_SCHEMA}`).run(src.file);
    } catch {
      db.pragma(`busy_timeout = ${BUSY_MS}`);
      return "unavailable";
    }
    this.importing = src;
    try {
      db.pragma(`${IMPORT_SCHEMA}.cache_size = ${CACHE_KIB}`);
      if (db.prepare(src.state(IMPORT_SCHEMA)).pluck().get() !== src.expect) return "unavailable";
      const insert = db.prepare(
        `INSERT INTO fold (export, ${FOLD_COLUMNS}, line)
         SELECT rmtabsync_checked(key_seq, key_ok, seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash),
           client, path, @journal, seq, wall, logical, node, op, count, hash, ${SQL_FOLD_LINE}
         FROM (${src.select(IMPORT_SCHEMA)}) WHERE true
         ON CONFLICT (export, client, path) DO UPDATE SET journal = excluded.journal, seq = excluded.seq, wall = excluded.wall, logical = excluded.logical,
           node = excluded.node, op = excluded.op, count = excluded.count, hash = excluded.hash, line = excluded.line
         WHERE rmtabsync_wins(excluded.wall, excluded.logical, excluded.node, excluded.count, fold.wall, fold.logical, fold.node, fold.count)`,
      );
      db.transaction(() => insert.run({ journal: src.journalId }))();
    } catch (err) {
      if (err instanceof ImportRefused) return { refused: err.message };
      return "unavailable";
    } finally {
      this.importing = undefined;
      try {
        db.exec(`DETACH DATABASE ${IMPORT_SCHEMA}`);
      } catch {
        /* closed with the file */
      }
      db.pragma(`busy_timeout = ${BUSY_MS}`);
    }
    this.rows = true;
    this.imported = true;
    return "imported";
  }

  /**
   * Every entry with a count above 0, once each, as an rmtab entry (the full
   * plan's input), of the exports named (all when undefined): read from the
   * file as they are taken, never all in memory.
   */
  *mounted(exports?: ReadonlySet<string>): Generator<RmtabEntry> {
    if (this.rows && this.db) {
      const all = exports === undefined;
      const query = all
        ? this.db.prepare("SELECT client, path, count FROM fold WHERE count > 0").raw()
        : this.db.prepare("SELECT client, path, count FROM fold WHERE export = ? AND count > 0").raw();
      for (const name of all ? [undefined] : [...exports]) {
        const rows = this.guard(() => (name === undefined ? query.iterate() : query.iterate(name))) as IterableIterator<[string, string, number]>;
        try {
          for (;;) {
            let r: IteratorResult<[string, string, number]>;
            try {
              r = rows.next();
            } catch (err) {
              throw damaged(err);
            }
            if (r.done) break;
            const [client, path, count] = r.value;
            // (no key to build when this run changed nothing: a takeover reads 100k rows)
            if (this.overlay.size === 0 || !this.overlay.has(entryKey(client, path))) yield { client, path, count };
          }
        } finally {
          rows.return?.();
        }
      }
    }
    for (const e of this.overlay.values()) if (e.count > 0 && (exports === undefined || exports.has(this.exportOf(e.path)))) yield { client: e.client, path: e.path, count: e.count };
  }

  /**
   * The lines of whole exports, each as one string in the plan's order
   * (client, then path: the file's key order): what a takeover adds to an
   * rmtab holding no line of them. This run's changes go to the file first
   * (the cache's own file: in a transaction that save() commits and close()
   * rolls back). Undefined when the fold has no file, or this run's
   * changes could not be written to it, or may not be: `write` false (a
   * dry run, status) leaves the cache file as it is. `soleRoot` (see
   * ExportIndex.soleRoot) spares a lookup per line of an export with no
   * other export under it.
   */
  images(write: boolean, soleRoot?: (name: string) => string | undefined): ((name: string) => ExportImage) | undefined {
    const db = this.db;
    if (!db || (!write && this.overlay.size > 0) || !this.flush()) return undefined;
    if (this.temp !== undefined) {
      // a new file's index (disk full: no cache this time, the lines are planned one by one)
      try {
        db.exec(INDEXES);
      } catch (err) {
        this.unsaveable = `its new file could not be written: ${err instanceof Error ? err.message : String(err)}`;
        return undefined;
      }
    }
    // the lines from their own index (a fold row is five times its line), in key order; then whether a mounted
    // entry has none (a cache file without the index is a damaged one)
    const [lines, unwritable] = this.guard(() => [
      db.prepare("SELECT group_concat(line, ''), count(*) FROM (SELECT line FROM fold INDEXED BY fold_lines WHERE export = ? AND line IS NOT NULL AND count > 0 ORDER BY client, path)").raw(),
      db.prepare("SELECT client, path, count FROM fold INDEXED BY fold_unwritable WHERE export = ? AND count > 0 AND line IS NULL ORDER BY client, path").raw(),
    ]);
    return (name) =>
      this.guard(() => {
        const [text, n] = lines.get(name) as [string | null, number];
        // each line a line mountd reads back, of a path of this export (what the rows' own columns say)
        const problem = linesProblem(text ?? "", n, (path) => this.exportOf(path) === name, soleRoot?.(name));
        if (problem) throw new Error(`export ${name}: ${problem}`);
        const bad = (unwritable.all(name) as [string, string, number][]).map(([client, path, count]) => ({ client, path, count }));
        return { text: text ?? "", lines: n, unwritable: bad };
      });
  }

  /** Puts this run's changes in the file (see images); false when they cannot be written. */
  private flush(): boolean {
    if (this.unsaveable !== undefined) return false;
    if (this.overlay.size === 0) return true;
    if (this.temp !== undefined) {
      this.spill();
      return this.unsaveable === undefined;
    }
    const db = this.db!;
    try {
      if (!this.inTransaction) {
        db.pragma("journal_mode = DELETE");
        db.pragma("synchronous = FULL");
        db.exec("BEGIN IMMEDIATE");
        this.inTransaction = true;
      }
      db.exec("SAVEPOINT flush");
      try {
        this.writeOverlay();
        db.exec("RELEASE flush");
      } catch (err) {
        db.exec("ROLLBACK TO flush");
        db.exec("RELEASE flush");
        throw err;
      }
    } catch {
      // a cache file this run cannot write (read-only, disk full): the overlay stays, planned row by row
      return false;
    }
    this.overlay.clear();
    return true;
  }

  /**
   * Writes the fold, its marks and what the next run checks, after a
   * reconcile made rmtab durable: the cache's own file in one transaction,
   * or a new file synced and renamed over it. A failure is returned, not
   * thrown: the cache is only an accelerator, and the next run folds from
   * the start (the file is removed so it cannot be half-trusted).
   */
  save(stateDir: string, u: FoldCacheUpdate): { error: string } | undefined {
    const file = foldCacheFile(stateDir);
    try {
      const db = this.db;
      if (!db || this.unsaveable !== undefined) throw new Error(this.unsaveable ?? "there is no fold to write");
      refuseSymlink(file);
      if (this.temp === undefined) {
        if (!lstatIfExists(file)?.isFile()) throw new Error("the cache it was read from is gone");
        if (!this.inTransaction) {
          db.pragma("journal_mode = DELETE");
          db.pragma("synchronous = FULL");
        }
      }
      const setMeta = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
      const write = db.transaction(() => {
        setMeta.run("format", FORMAT);
        setMeta.run("key", u.key);
        this.writeOverlay();
        db.exec(INDEXES);
        db.exec("DELETE FROM sources");
        const ins = db.prepare("INSERT INTO sources (file, journal_id, seq, hash, problem, recompacted) VALUES (?, ?, ?, ?, ?, ?)");
        for (const [f, s] of u.sources) ins.run(f, s.journalId, s.seq, s.hash, s.problem ? JSON.stringify(s.problem) : null, s.recompacted ?? null);
        setMeta.run("seen", JSON.stringify({ wall: u.seen.wall, logical: u.seen.logical }));
        if (u.unchanged) setMeta.run("unchanged", JSON.stringify(u.unchanged));
        else db.prepare("DELETE FROM meta WHERE key = 'unchanged'").run();
      });
      if (this.inTransaction) {
        // images() began it: the rows it wrote and these commit together
        write();
        db.exec("COMMIT");
        this.inTransaction = false;
      } else write.immediate();
      if (this.temp !== undefined) {
        db.close();
        fsyncPath(this.temp);
        renameSync(this.temp, file);
      }
      this.saved = true;
      return undefined;
    } catch (err) {
      this.close();
      dropFoldCache(stateDir);
      return { error: `could not write the fold cache ${file} (the next reconcile folds every journal again): ${err instanceof Error ? err.message : String(err)}` };
    }
  }

  /** Closes the file; a new one that was not saved is removed. */
  close(): void {
    if (this.db?.open) this.db.close();
    if (this.temp !== undefined && !this.saved) rmSync(this.temp, { force: true });
  }

  /**
   * A new file's entries in memory go to the file (they won over its rows:
   * get() read those first). A write that fails (disk full) is rolled back
   * and the fold stays in memory: the cache is only an accelerator.
   */
  private spill(): void {
    try {
      this.db!.transaction(() => this.writeOverlay())();
    } catch (err) {
      this.unsaveable = `its new file could not be written: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    for (const k of this.overlay.keys()) this.spilled?.add(k);
    this.overlay.clear();
    this.rows = true;
  }

  private writeOverlay(): void {
    const put = this.db!.prepare(`INSERT OR REPLACE INTO fold (export, ${FOLD_COLUMNS}, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const e of this.overlay.values()) put.run(this.exportOf(e.path), e.client, e.path, e.journal, e.seq, e.wall, e.logical, e.node, e.op, e.count, e.hash, foldLine(e));
  }

  /** SQLite errors while reading the cache mean a damaged file (FoldCacheDamaged). */
  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw damaged(err);
    }
  }
}

function damaged(err: unknown): FoldCacheDamaged {
  return new FoldCacheDamaged(`the fold cache could not be read: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/**
 * The keys that went to a new file, as one bit each of a hash: a fixed
 * 1 MiB whatever the fold's size (a Set of half a million keys holds
 * about 50 MB of strings). A clear bit: the key was never spilled, and
 * get() does not look it up; a set bit may be another key's, and the
 * lookup finds nothing.
 */
class KeyFilter {
  private readonly bits = new Int32Array(1 << 18);

  add(key: string): void {
    const h = keyHash(key);
    this.bits[h >>> 5]! |= 1 << (h & 31);
  }

  mayHave(key: string): boolean {
    const h = keyHash(key);
    return (this.bits[h >>> 5]! & (1 << (h & 31))) !== 0;
  }
}

/** FNV-1a of the key's UTF-16 code units, cut to 23 bits (KeyFilter's 2^23 bits). */
function keyHash(key: string): number {
  return fnv1a(key) >>> 9;
}

function toEvent([client, path, journal, seq, wall, logical, node, op, count, hash]: FoldRow): JournalEvent {
  return { op, client, path, count, wall, logical, node, journal, seq, hash };
}

/** New files of runs killed before they renamed them (an hour old: a run in progress is younger). */
function removeStaleTemps(stateDir: string): void {
  const prefix = `${basename(foldCacheFile(stateDir))}.tmp-`;
  const cutoff = Date.now() - 3_600_000;
  for (const name of readdirSync(stateDir)) {
    if (!name.startsWith(prefix)) continue;
    const f = join(stateDir, name);
    const st = lstatIfExists(f);
    if (st?.isFile() && st.mtimeMs < cutoff) rmSync(f, { force: true });
  }
}

export interface FoldCacheUpdate {
  readonly key: string;
  readonly sources: ReadonlyMap<string, CachedSource>;
  readonly seen: Hlc;
  readonly unchanged: Unchanged | undefined;
}

/** Removes the cache (a damaged one, or before a change it cannot follow). */
export function dropFoldCache(stateDir: string): void {
  const file = foldCacheFile(stateDir);
  for (const f of [file, `${file}-journal`]) {
    try {
      if (lstatIfExists(f)) unlinkSync(f);
    } catch {
      /* nothing more can be done; the key check still protects readers */
    }
  }
}
