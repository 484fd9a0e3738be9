// Per-node SQLite journals on the control volume. The owner opens its own
// journal read-write; every other journal is opened read-only.
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createHash, randomUUID } from "node:crypto";
import Database from "better-sqlite3";
import type { Change, JournalEvent, Op } from "../core/events.js";
import { compareHlc, HLC_ZERO, maxHlc, tick, type Hlc } from "../core/hlc.js";
import { entryKey, type RmtabEntry } from "../core/rmtab.js";
import { JournalError } from "../errors.js";

export const JOURNAL_FORMAT = "rmtabsync-journal";
export const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  wall INTEGER NOT NULL,
  logical INTEGER NOT NULL,
  node TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('mount', 'umount', 'count')),
  client TEXT NOT NULL,
  path TEXT NOT NULL,
  count INTEGER NOT NULL CHECK (count >= 0),
  origin_journal TEXT NOT NULL,
  origin_seq INTEGER NOT NULL,
  origin_hash TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX events_time ON events (wall, logical);
CREATE UNIQUE INDEX events_origin ON events (origin_journal, origin_seq);
-- This node's view of the local rmtab as of its last record/reconcile.
CREATE TABLE baseline (client TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (client, path)) WITHOUT ROWID;
-- What a reconcile in progress is about to write (rows that differ from baseline; count 0 = absent).
CREATE TABLE baseline_pending (client TEXT NOT NULL, path TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (client, path)) WITHOUT ROWID;
CREATE TABLE local_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- Newest event of each other journal this node has seen (split-brain detection).
CREATE TABLE peer_marks (journal_id TEXT PRIMARY KEY, node TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, seen_wall INTEGER NOT NULL) WITHOUT ROWID;
-- Hashes of events that compaction removed, so the chain stays checkable.
CREATE TABLE pruned (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL);
-- What this node knows about itself (versioned; a new row only when something changed).
CREATE TABLE facts (version INTEGER PRIMARY KEY AUTOINCREMENT, wall INTEGER NOT NULL, format INTEGER NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL);
`;

export interface JournalMeta {
  readonly format: string;
  readonly cluster: string;
  readonly node: string;
  readonly journalId: string;
  readonly created: string;
  readonly schema: number;
}

interface EventRow {
  seq: number;
  wall: number;
  logical: number;
  node: string;
  op: Op;
  client: string;
  path: string;
  count: number;
  origin_journal: string;
  origin_seq: number;
  origin_hash: string;
  prev_hash: string;
  hash: string;
}

export function eventHash(prevHash: string, e: Omit<EventRow, "hash" | "prev_hash" | "origin_hash">): string {
  return createHash("sha256")
    .update(JSON.stringify([prevHash, e.seq, e.wall, e.logical, e.node, e.op, e.client, e.path, e.count, e.origin_journal, e.origin_seq]))
    .digest("hex");
}

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

function describeSqliteError(err: unknown): string {
  const code = sqliteCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  switch (code) {
    case "SQLITE_NOTADB":
      return "not an SQLite database (garbage or another kind of file)";
    case "SQLITE_CORRUPT":
      return `database is corrupt (${msg})`;
    case "SQLITE_CANTOPEN":
      return `cannot open (${msg})`;
    case "SQLITE_BUSY":
      return "busy: its node holds a write lock too long";
    default:
      return code ? `${code}: ${msg}` : msg;
  }
}

function readMeta(db: Database.Database, file: string): JournalMeta {
  let rows: { key: string; value: string }[];
  let version: number;
  try {
    version = db.pragma("user_version", { simple: true }) as number;
    const hasMeta = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (!hasMeta) throw new JournalError(file, "not an rmtabsync journal (no meta table)");
    rows = db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
  } catch (err) {
    if (err instanceof JournalError) throw err;
    throw new JournalError(file, describeSqliteError(err), { cause: err });
  }
  const m = new Map(rows.map((r) => [r.key, r.value]));
  if (m.get("format") !== JOURNAL_FORMAT) throw new JournalError(file, "not an rmtabsync journal (meta.format missing)");
  if (version > SCHEMA_VERSION)
    throw new JournalError(file, `schema version ${version} is newer than this rmtabsync understands (${SCHEMA_VERSION}): upgrade rmtabsync`);
  if (version < 1) throw new JournalError(file, `schema version ${version} is unknown`);
  return {
    format: JOURNAL_FORMAT,
    cluster: m.get("cluster") ?? "",
    node: m.get("node") ?? "",
    journalId: m.get("journal_id") ?? "",
    created: m.get("created") ?? "",
    schema: version,
  };
}

function toEvent(journalId: string, r: EventRow): JournalEvent {
  return {
    journal: journalId,
    seq: r.seq,
    wall: r.wall,
    logical: r.logical,
    node: r.node,
    op: r.op,
    client: r.client,
    path: r.path,
    count: r.count,
    hash: r.hash,
    originJournal: r.origin_journal,
    originSeq: r.origin_seq,
    originHash: r.origin_hash,
  };
}

export interface FactsRecord {
  readonly version: number;
  readonly wall: number;
  readonly format: number;
  readonly body: unknown;
  readonly hash: string;
}

function latestFacts(db: Database.Database): FactsRecord | undefined {
  const r = db.prepare("SELECT version, wall, format, body, hash FROM facts ORDER BY version DESC LIMIT 1").get() as
    | { version: number; wall: number; format: number; body: string; hash: string }
    | undefined;
  if (!r) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    body = undefined;
  }
  return { version: r.version, wall: r.wall, format: r.format, body, hash: r.hash };
}

/** Stable JSON (sorted keys) so equal facts hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

/** Node name a journal file stands for (file name without .sqlite). */
export function nodeOfFile(file: string): string {
  return basename(file).replace(/\.sqlite$/, "");
}

export interface ReadJournal {
  readonly file: string;
  readonly meta: JournalMeta;
  readonly events: JournalEvent[];
  readonly maxHlc: Hlc;
  readonly lastSeq: number;
  readonly lastHash: string;
  /** The newest facts this node published, if any. */
  readonly facts: FactsRecord | undefined;
}

function checkIdentity(file: string, meta: JournalMeta, cluster: string | undefined): void {
  if (cluster !== undefined && meta.cluster !== cluster)
    throw new JournalError(file, `belongs to cluster "${meta.cluster}", not "${cluster}"`);
  if (meta.node !== nodeOfFile(file))
    throw new JournalError(file, `records node "${meta.node}" but its file name says "${nodeOfFile(file)}"`);
}

function readAll(db: Database.Database, file: string, cluster: string | undefined, since?: { wall?: number }): ReadJournal {
  const meta = readMeta(db, file);
  checkIdentity(file, meta, cluster);
  try {
    const rows = (
      since?.wall !== undefined
        ? db.prepare("SELECT * FROM events WHERE wall >= ? ORDER BY seq").all(since.wall)
        : db.prepare("SELECT * FROM events ORDER BY seq").all()
    ) as EventRow[];
    let max = HLC_ZERO;
    for (const r of rows) max = maxHlc(max, r);
    const last = db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
    return {
      file,
      meta,
      events: rows.map((r) => toEvent(meta.journalId, r)),
      maxHlc: max,
      lastSeq: last?.seq ?? 0,
      lastHash: last?.hash ?? meta.journalId,
      facts: latestFacts(db),
    };
  } catch (err) {
    throw new JournalError(file, describeSqliteError(err), { cause: err });
  }
}

/**
 * Reads another node's journal without writing anything to it. A crash-left
 * rollback journal on a read-only copy cannot be rolled back in place, so
 * such a file is copied (with its -journal) to a temp dir and read there.
 */
export function readJournal(file: string, cluster?: string): ReadJournal {
  let db: Database.Database | undefined;
  try {
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
      return readAll(db, file, cluster);
    } catch (err) {
      const cause = err instanceof JournalError ? err.cause : err;
      if (sqliteCode(cause) !== "SQLITE_READONLY_ROLLBACK" && sqliteCode(cause) !== "SQLITE_READONLY_RECOVERY") {
        if (err instanceof JournalError) throw err;
        throw new JournalError(file, describeSqliteError(err), { cause: err });
      }
    }
    db?.close();
    db = undefined;
    return readViaCopy(file, cluster);
  } finally {
    db?.close();
  }
}

function readViaCopy(file: string, cluster?: string): ReadJournal {
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-ro-"));
  try {
    const copy = join(dir, basename(file));
    copyFileSync(file, copy);
    if (existsSync(`${file}-journal`)) copyFileSync(`${file}-journal`, `${copy}-journal`);
    const db = new Database(copy, { fileMustExist: true });
    try {
      const r = readAll(db, copy, cluster);
      return { ...r, file };
    } catch (err) {
      if (err instanceof JournalError) throw new JournalError(file, err.problem, { cause: err });
      throw err;
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Baseline {
  /** Committed baseline, or undefined before this node's first record. */
  readonly committed: Map<string, RmtabEntry> | undefined;
  /** Candidate written by a reconcile that did not finish (overlay on committed). */
  readonly pending: Map<string, RmtabEntry> | undefined;
}

/** This node's own journal, opened read-write. */
export class OwnJournal {
  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
    readonly meta: JournalMeta,
  ) {}

  /**
   * Opens (and with `create`, creates) the journal of `node`. `readOnly`
   * (status) opens it without writing anything: only the readers work.
   */
  static open(file: string, opts: { cluster: string; node: string; create: boolean; readOnly?: boolean; now: Date }): OwnJournal {
    const exists = existsSync(file);
    if (!exists && !opts.create)
      throw new JournalError(file, `does not exist: run 'rmtabsync init' on node ${opts.node}`);
    if (exists && statSync(file).size === 0 && !opts.create)
      throw new JournalError(file, "is empty (truncated?)");
    let db: Database.Database;
    try {
      if (opts.readOnly) {
        db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10000 });
      } else {
        db = new Database(file, { timeout: 10000 });
        db.pragma("journal_mode = DELETE");
        db.pragma("synchronous = FULL");
      }
    } catch (err) {
      throw new JournalError(file, describeSqliteError(err), { cause: err });
    }
    try {
      const version = db.pragma("user_version", { simple: true }) as number;
      const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
      if (version === 0 && tables.n === 0) {
        if (!opts.create || opts.readOnly) throw new JournalError(file, "is empty: run 'rmtabsync init'");
        db.transaction(() => {
          db.exec(SCHEMA_V1);
          const ins = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
          ins.run("format", JOURNAL_FORMAT);
          ins.run("cluster", opts.cluster);
          ins.run("node", opts.node);
          ins.run("journal_id", randomUUID());
          ins.run("created", opts.now.toISOString());
          db.pragma(`user_version = ${SCHEMA_VERSION}`);
        })();
      }
      const meta = readMeta(db, file);
      checkIdentity(file, meta, opts.cluster);
      if (meta.node !== opts.node) throw new JournalError(file, `belongs to node "${meta.node}", not "${opts.node}"`);
      return new OwnJournal(file, db, meta);
    } catch (err) {
      db.close();
      if (err instanceof JournalError) throw err;
      throw new JournalError(file, describeSqliteError(err), { cause: err });
    }
  }

  close(): void {
    this.db.close();
  }

  read(): ReadJournal {
    return readAll(this.db, this.file, this.meta.cluster);
  }

  private state(key: string): string | undefined {
    const r = this.db.prepare("SELECT value FROM local_state WHERE key = ?").get(key) as { value: string } | undefined;
    return r?.value;
  }

  private setState(key: string, value: string): void {
    this.db.prepare("INSERT INTO local_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  /** Highest stamp this node has ever seen (persisted, so an unreadable peer cannot pull it back). */
  seenHlc(): Hlc {
    const v = this.state("hlc_seen");
    if (!v) return HLC_ZERO;
    const [wall, logical] = v.split(".").map(Number);
    return { wall: wall ?? 0, logical: logical ?? 0 };
  }

  /** A reconcile wrote its pending baseline but did not confirm the rename. */
  pendingReconcile(): boolean {
    return this.state("pending") === "1";
  }

  lastTimes(): { record?: number; reconcile?: number } {
    const r = this.state("last_record");
    const c = this.state("last_reconcile");
    return { record: r ? Number(r) : undefined, reconcile: c ? Number(c) : undefined };
  }

  baseline(): Baseline {
    if (this.state("baseline_init") !== "1") return { committed: undefined, pending: undefined };
    const committed = new Map<string, RmtabEntry>();
    for (const r of this.db.prepare("SELECT client, path, count FROM baseline").iterate() as Iterable<RmtabEntry>)
      committed.set(entryKey(r.client, r.path), { client: r.client, path: r.path, count: r.count });
    let pending: Map<string, RmtabEntry> | undefined;
    if (this.state("pending") === "1") {
      pending = new Map(committed);
      for (const r of this.db.prepare("SELECT client, path, count FROM baseline_pending").iterate() as Iterable<RmtabEntry>) {
        const key = entryKey(r.client, r.path);
        if (r.count === 0) pending.delete(key);
        else pending.set(key, { client: r.client, path: r.path, count: r.count });
      }
    }
    return { committed, pending };
  }

  /**
   * Appends changes (each stamped by the hybrid logical clock past `seen`)
   * and moves the baseline to `current`, in one transaction.
   */
  commitRecord(args: {
    changes: readonly Change[];
    seen: Hlc;
    nowMs: number;
    baselineBefore: ReadonlyMap<string, RmtabEntry> | undefined;
    current: ReadonlyMap<string, RmtabEntry>;
    what: "record" | "reconcile";
  }): JournalEvent[] {
    const out: JournalEvent[] = [];
    const id = this.meta.journalId;
    this.db.transaction(() => {
      let clock = maxHlc(args.seen, this.seenHlc());
      const last = this.db.prepare("SELECT seq, hash, wall, logical FROM events ORDER BY seq DESC LIMIT 1").get() as
        | { seq: number; hash: string; wall: number; logical: number }
        | undefined;
      if (last) clock = maxHlc(clock, last);
      let prev = last?.hash ?? id;
      // AUTOINCREMENT never reuses a sequence number, even after deletes.
      const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
      let seq = seqRow?.seq ?? 0;
      const ins = this.db.prepare(
        `INSERT INTO events (seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash)
         VALUES (@seq, @wall, @logical, @node, @op, @client, @path, @count, @origin_journal, @origin_seq, @origin_hash, @prev_hash, @hash)`,
      );
      for (const c of args.changes) {
        clock = tick(clock, args.nowMs);
        seq++;
        const row = {
          seq,
          wall: clock.wall,
          logical: clock.logical,
          node: this.meta.node,
          op: c.op,
          client: c.client,
          path: c.path,
          count: c.count,
          origin_journal: id,
          origin_seq: seq,
        };
        const hash = eventHash(prev, row);
        ins.run({ ...row, origin_hash: hash, prev_hash: prev, hash });
        out.push(toEvent(id, { ...row, origin_hash: hash, prev_hash: prev, hash }));
        prev = hash;
      }
      this.setState("hlc_seen", `${clock.wall}.${clock.logical}`);
      this.writeBaselineDelta(args.baselineBefore, args.current);
      this.db.prepare("DELETE FROM baseline_pending").run();
      this.setState("pending", "0");
      this.setState("baseline_init", "1");
      this.setState(args.what === "record" ? "last_record" : "last_reconcile", String(args.nowMs));
      if (args.what === "reconcile") this.setState("last_record", String(args.nowMs));
    })();
    return out;
  }

  /**
   * Publishes this node's facts: a new version only when they differ from
   * the newest one. Returns the version in force and whether it is new.
   */
  publishFacts(body: unknown, format: number, nowMs: number): { version: number; changed: boolean } {
    const text = canonicalJson(body);
    const hash = createHash("sha256").update(`${format}\n${text}`).digest("hex");
    const latest = latestFacts(this.db);
    if (latest && latest.hash === hash) return { version: latest.version, changed: false };
    const r = this.db.prepare("INSERT INTO facts (wall, format, body, hash) VALUES (?, ?, ?, ?)").run(nowMs, format, text, hash);
    return { version: Number(r.lastInsertRowid), changed: true };
  }

  /** Raises the persisted highest-seen stamp. */
  noteSeen(seen: Hlc): void {
    if (compareHlc(seen, this.seenHlc()) > 0) this.setState("hlc_seen", `${seen.wall}.${seen.logical}`);
  }

  private writeBaselineDelta(before: ReadonlyMap<string, RmtabEntry> | undefined, after: ReadonlyMap<string, RmtabEntry>): void {
    const del = this.db.prepare("DELETE FROM baseline WHERE client = ? AND path = ?");
    const put = this.db.prepare(
      "INSERT INTO baseline (client, path, count) VALUES (?, ?, ?) ON CONFLICT (client, path) DO UPDATE SET count = excluded.count",
    );
    if (before === undefined) {
      this.db.prepare("DELETE FROM baseline").run();
      for (const e of after.values()) put.run(e.client, e.path, e.count);
      return;
    }
    for (const [k, e] of before) if (!after.has(k)) del.run(e.client, e.path);
    for (const [k, e] of after) if (before.get(k)?.count !== e.count) put.run(e.client, e.path, e.count);
  }

  /** Before renaming a new rmtab into place: remember what it holds, in case we crash. */
  markPending(committed: ReadonlyMap<string, RmtabEntry>, next: ReadonlyMap<string, RmtabEntry>): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM baseline_pending").run();
      const put = this.db.prepare("INSERT INTO baseline_pending (client, path, count) VALUES (?, ?, ?)");
      for (const [k, e] of committed) if (!next.has(k)) put.run(e.client, e.path, 0);
      for (const [k, e] of next) if (committed.get(k)?.count !== e.count) put.run(e.client, e.path, e.count);
      this.setState("pending", "1");
    })();
  }

  /** After the rename is durable: the pending rmtab is the baseline. */
  commitPending(nowMs: number): void {
    this.db.transaction(() => {
      const rows = this.db.prepare("SELECT client, path, count FROM baseline_pending").all() as RmtabEntry[];
      const del = this.db.prepare("DELETE FROM baseline WHERE client = ? AND path = ?");
      const put = this.db.prepare(
        "INSERT INTO baseline (client, path, count) VALUES (?, ?, ?) ON CONFLICT (client, path) DO UPDATE SET count = excluded.count",
      );
      for (const r of rows) {
        if (r.count === 0) del.run(r.client, r.path);
        else put.run(r.client, r.path, r.count);
      }
      this.db.prepare("DELETE FROM baseline_pending").run();
      this.setState("pending", "0");
      this.setState("last_reconcile", String(nowMs));
    })();
  }
}
