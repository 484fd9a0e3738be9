// Per-node SQLite journals on the control volume. The owner opens its own
// journal read-write; every other journal is opened read-only.
import { accessSync, chmodSync, closeSync, constants as fsConstants, copyFileSync, existsSync, fstatSync, lstatSync, mkdtempSync, openSync, readSync, rmSync, type Stats } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createHash, randomUUID } from "node:crypto";
import { eventHash, originKey, type ChainRow, type JournalView, type Mark, type PrunedRow } from "../core/integrity.js";
import Database from "better-sqlite3";
import type { Change, JournalEvent, Op } from "../core/events.js";
import { compareHlc, HLC_ZERO, maxHlc, tick, type Hlc } from "../core/hlc.js";
import { JournalError } from "../errors.js";
import { DEFAULT_MAX_CLOCK_SKEW_MS } from "../config.js";
import { futureProblem, MAX_WALL_MS, rowProblem, type RowRules } from "../core/event-check.js";
import { createExclusive, lstatIfExists } from "./files.js";
import { publishTempJournal, tempJournalFile } from "./temp-journals.js";
import { createLatest, LATEST_MARKER, latestStaleness, LatestKeeper, migrateLatest } from "./latest-table.js";
import { compareEvents } from "../core/events.js";
import type { LatestRow } from "../core/latest-table.js";
import { applySplices, decodeSplices, encodeSplices, smallSpliceOf, withSplice, type Splice } from "../core/baseline-edits.js";

export const JOURNAL_FORMAT = "rmtabsync-journal";
/**
 * PRAGMA user_version: what a reader must understand to read the journal.
 * Schema v2 (the latest-event table, see latest-table.ts) keeps it at 1:
 * its change is additive, and older readers refuse a newer user_version.
 */
export const SCHEMA_VERSION = 1;
const INSERT_EVENT = `INSERT INTO events (seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash)
  VALUES (@seq, @wall, @logical, @node, @op, @client, @path, @count, @origin_journal, @origin_seq, @origin_hash, @prev_hash, @hash)`;

/** How often unchanged facts re-confirm their `facts_checked` time. */
const FACTS_CHECKED_EVERY_MS = 60_000;

/** Whether facts last checked at `checked` are due again at `nowMs` (never checked, a minute past, or the clock went back). */
export function factsDue(checked: number | undefined, nowMs: number): boolean {
  return checked === undefined || nowMs - checked >= FACTS_CHECKED_EVERY_MS || nowMs < checked;
}

const SCHEMA_V1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  wall INTEGER NOT NULL,
  logical INTEGER NOT NULL,
  node TEXT NOT NULL,
  op TEXT NOT NULL CHECK (op IN ('mount', 'umount', 'count', 'forget')),
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
-- slot 'committed': the rmtab (canonical) as of the last record/reconcile;
-- slot 'pending': what a reconcile in progress is about to rename into place.
-- Since 0.2 the committed rmtab is in baseline_content (below), and
-- 'committed' is removed; one written by an older release wins (see
-- OwnJournal.baseline).
CREATE TABLE baseline (slot TEXT PRIMARY KEY, content BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE local_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- Newest event of each other journal this node has seen (split-brain detection).
CREATE TABLE peer_marks (journal_id TEXT PRIMARY KEY, node TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, seen_wall INTEGER NOT NULL) WITHOUT ROWID;
-- Hashes of events that compaction removed, so the chain stays checkable.
CREATE TABLE pruned (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, wall INTEGER NOT NULL, origin_journal TEXT NOT NULL, origin_seq INTEGER NOT NULL, origin_hash TEXT NOT NULL);
-- What this node knows about itself (versioned; a new row only when something changed).
CREATE TABLE facts (version INTEGER PRIMARY KEY AUTOINCREMENT, wall INTEGER NOT NULL, format INTEGER NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL);
`;

/**
 * The committed rmtab as part 0 (the base) and part 1 (the edits since, see
 * src/core/baseline-edits.ts). A rowid table: a lookup in the baseline
 * table above (WITHOUT ROWID, the content part of its key's record) reads
 * every multi-megabyte row it compares with. Added in 0.2, additive: an
 * older release does not read it (and then starts from rmtab as it is).
 */
const BASELINE_CONTENT = "CREATE TABLE IF NOT EXISTS baseline_content (part INTEGER PRIMARY KEY, content BLOB NOT NULL)";
const BASE = 0;
const EDITS = 1;
/**
 * A reconcile's pending rmtab as one splice of the committed baseline (part
 * PENDING, local state `pending_base` naming the baseline it applies to):
 * what a rewrite changes, not the whole file twice. An older release knows
 * only the 'pending' slot and never sees it (see pendingContent).
 */
const PENDING = 2;
/**
 * Local state naming the baseline (its id) whose base part is the pending
 * rmtab: a reconcile whose rmtab grew past what a splice holds (a
 * takeover's new lines) writes it there, once, with the edit back to the
 * committed baseline as the edits; committing drops that edit. An older
 * release reads base and edits, the committed baseline, and never sees it.
 */
const PENDING_IN_BASE = "pending_in_base";

/** Creates the schema and the journal's identity in an empty database, in one transaction. */
function createSchema(
  db: Database.Database,
  m: { cluster: string; node: string; journalId: string; created: string; branchOf?: string; branchAt?: number },
): void {
  db.transaction(() => {
    db.exec(SCHEMA_V1);
    db.exec(BASELINE_CONTENT);
    createLatest(db);
    const ins = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    ins.run("format", JOURNAL_FORMAT);
    ins.run("cluster", m.cluster);
    ins.run("node", m.node);
    ins.run("journal_id", m.journalId);
    ins.run("created", m.created);
    if (m.branchOf) ins.run("branch_of", m.branchOf);
    if (m.branchAt !== undefined) ins.run("branch_at", String(m.branchAt));
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

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

function sqliteCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

function describeSqliteError(err: unknown, file?: string): string {
  const code = sqliteCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  // SQLite reads a directory as an I/O error ("disk I/O error"), which sounds like a hardware fault
  if (file !== undefined && /^SQLITE_(IOERR|CANTOPEN)/.test(code ?? "") && isDirectory(file)) return "is a directory, not a journal file: remove or rename it";
  if (code === "SQLITE_READONLY") return "cannot be written: it or its file system is read-only (is the control volume mounted read-only?)";
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

function isDirectory(file: string): boolean {
  try {
    return lstatSync(file).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Why this node could not write its journal: the file or its directory (where
 * SQLite creates the rollback journal) is read-only, or undefined. Root
 * ignores file modes, but not a read-only mount or an immutable file.
 */
export function journalWriteProblem(file: string): string | undefined {
  for (const [path, what] of [
    [file, "it"],
    [dirname(file), `its directory ${dirname(file)}`],
  ] as const) {
    if (path === file && !existsSync(file)) continue;
    try {
      accessSync(path, fsConstants.W_OK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EROFS") return `cannot be written: ${what} is on a read-only file system (is the control volume mounted read-only?)`;
      return `cannot be written: ${what} is not writable (${code === "EPERM" ? "immutable?" : (code ?? "?")})`;
    }
  }
  return undefined;
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
    throw new JournalError(file, describeSqliteError(err, file), { cause: err });
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

/**
 * Changes whenever the journal file is replaced or a transaction commits to
 * it: its inode and SQLite's file change counter (header bytes 24..27, kept
 * by the rollback journal mode every journal uses). Cheap: one small read.
 */
export function journalStamp(file: string): string {
  const fd = openSync(file, "r");
  try {
    if (fstatSync(fd).isDirectory()) throw new JournalError(file, "is a directory, not a journal file: remove or rename it");
    const head = Buffer.alloc(28);
    const n = readSync(fd, head, 0, 28, 0);
    return `${fstatSync(fd).ino}:${n === 28 ? head.readUInt32BE(24) : `short${n}`}`;
  } finally {
    closeSync(fd);
  }
}

/** Node name a journal file stands for: ds03.sqlite and the branch ds03~1a2b3c4d.sqlite are ds03's. */
export function nodeOfFile(file: string): string {
  return basename(file).replace(/\.sqlite$/, "").replace(/~[^~]*$/, "");
}

/** True for a branch journal that recover imported from a forked history. */
export function isBranchFile(file: string): boolean {
  return /~[^~/]*\.sqlite$/.test(file);
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
  /** Local seq/hash of every event and compacted event, and origins of imported ones. */
  readonly view: JournalView;
  /** Newest event of each journal its node has seen, as it published them. */
  readonly peerMarks: Mark[];
  /** With events: where the next incremental read starts (the last event read, or the one before the first held back). */
  readonly resume: { readonly seq: number; readonly hash: string } | undefined;
  /** `from` was given and the journal no longer holds that event: nothing was read, fold it again from the start. */
  readonly fromMismatch: boolean;
  /** Changes when recover compacts away events the other copy compacted away (a reader folds again). */
  readonly recompacted: string | undefined;
  /** Events read but not folded (bad content, broken chain, or stamped in the future); `events` holds the rest. */
  readonly rejected: RejectedRow[];
  /** For a branch journal: the journal whose history forked. */
  readonly branchOf: string | undefined;
  /** Events before this wall time may have been compacted away. */
  readonly compactedBefore: number | undefined;
  /** When the node last collected its facts (ms), changed or not. */
  readonly factsChecked: number | undefined;
  /** Only when ReadOptions.latestTable was set: whether the table was read, or why the events were. */
  readonly latestTable?: { readonly used: true } | { readonly used: false; readonly why: string };
}

function factsChecked(db: Database.Database): number | undefined {
  const r = db.prepare("SELECT value FROM local_state WHERE key = 'facts_checked'").get() as { value: string } | undefined;
  const n = r ? Number(r.value) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function checkIdentity(file: string, meta: JournalMeta, cluster: string | undefined): void {
  if (cluster !== undefined && meta.cluster !== cluster)
    throw new JournalError(file, `belongs to cluster "${meta.cluster}", not "${cluster}"`);
  if (meta.node !== nodeOfFile(file))
    throw new JournalError(file, `records node "${meta.node}" but its file name says "${nodeOfFile(file)}"`);
}

export interface ReadOptions {
  /** Read the events themselves (false: only what record and the integrity checks need). */
  readonly events?: boolean;
  /**
   * Without events: the sequence numbers, per journal id, whose hashes the
   * integrity checks will look up (the marks). Others are not loaded.
   */
  readonly interest?: ReadonlyMap<string, readonly number[]>;
  /** Events stamped later than this (ms) are held back as from the future (see rowProblem). */
  readonly futureAfterMs?: number;
  /**
   * With events: each usable event goes to this function instead of into
   * `events` (a fold that never holds the whole history in memory).
   */
  readonly sink?: (e: JournalEvent) => void;
  /**
   * With events: read only the events after this one (a high-water mark a
   * reader folded before), checking the chain from its hash. When the
   * journal no longer holds that hash at that sequence number (rolled back,
   * forked, replaced) nothing is read and `fromMismatch` is set.
   */
  readonly from?: { readonly seq: number; readonly hash: string; readonly recompacted?: string };
  /**
   * With a sink, `interest` and no `from` (a cold fold): the journal's
   * latest-event table may stand in for its history, one event per client
   * and path (its winner here) instead of every event. Used only when the
   * table is current and every row passes the checks of a full read (see
   * readLatestRows); otherwise the journal is read the old way.
   * `latestTable` in the result says which.
   */
  readonly latestTable?: boolean;
  /** With latestTable: a fold that may take the table's rows itself (see LatestImporter). */
  readonly importer?: LatestImporter;
}

/** An event read but not used: the row breaks the rules or the chain, or comes from the future. */
export interface RejectedRow {
  readonly seq: number;
  readonly problem: string;
  /** "future": only its stamp is ahead of this node's clock; "invalid": its content or chain is bad. */
  readonly kind: "invalid" | "future";
}

// Long text columns are cut in SQL: a row with a 64 MiB client is rejected without loading it.
const FIELD = (c: string) => `CASE WHEN typeof(${c}) = 'text' AND length(${c}) > 2100 THEN substr(${c}, 1, 2100) ELSE ${c} END AS ${c}`;
const SELECT_EVENTS = `SELECT seq, wall, logical, node, op, ${FIELD("client")}, ${FIELD("path")}, count, origin_journal, origin_seq, origin_hash, prev_hash, hash FROM events WHERE seq > ? ORDER BY seq`;

/**
 * Reads every event in sequence order, keeping the ones that pass rowProblem
 * and the hash chain (from the journal id, over compacted events). A broken
 * link rejects everything from the break on: what follows cannot be trusted.
 */
function readEvents(
  db: Database.Database,
  meta: JournalMeta,
  pruned: readonly PrunedRow[],
  futureAfterMs: number | undefined,
  start: { seq: number; hash: string },
  out: { sink?: (e: JournalEvent) => void; keepRow?: (seq: number, originJournal: string) => boolean } = {},
) {
  const rules: RowRules = { node: meta.node };
  const events: JournalEvent[] = [];
  const rejected: RejectedRow[] = [];
  const rows: { seq: number; hash: string; origin_journal: string; origin_seq: number; origin_hash: string }[] = [];
  const prunedHash = new Map(pruned.map((p) => [p.seq, p.hash]));
  let max = HLC_ZERO;
  let prevSeq = start.seq;
  let prevHash = start.hash;
  let broken: string | undefined;
  // where the next incremental read must start: before the first event held back as from the future
  let resume: { seq: number; hash: string } | undefined;
  for (const r of db.prepare(SELECT_EVENTS).iterate(start.seq) as IterableIterator<Record<string, unknown>>) {
    const seq = Number(r.seq);
    const hash = String(r.hash);
    const origin = String(r.origin_journal);
    if (!out.keepRow || out.keepRow(seq, origin)) rows.push({ seq, hash, origin_journal: origin, origin_seq: Number(r.origin_seq), origin_hash: String(r.origin_hash) });
    if (broken === undefined) {
      for (let s = prevSeq + 1; s < seq && broken === undefined; s++) {
        const h = prunedHash.get(s);
        if (h === undefined) broken = `event ${s} is missing (sequence gap, not compacted)`;
        else prevHash = h;
      }
      if (broken === undefined && r.prev_hash !== prevHash)
        broken = `event ${seq} does not chain to the event before it (prev_hash ${String(r.prev_hash).slice(0, 12)}, expected ${prevHash.slice(0, 12)})`;
      if (broken !== undefined) broken = `${broken}: it and every later event are not trusted`;
    }
    const bad = broken ?? rowProblem(r, rules) ?? hashProblem(r as unknown as ChainRow, meta.journalId);
    const future = bad === undefined ? futureProblem(Number(r.wall), futureAfterMs) : undefined;
    if (bad !== undefined) rejected.push({ seq, problem: bad, kind: "invalid" });
    else if (future !== undefined) {
      rejected.push({ seq, problem: future, kind: "future" });
      resume ??= { seq: prevSeq, hash: prevHash };
    }
    else {
      const e = toEvent(meta.journalId, r as unknown as EventRow);
      if (out.sink) out.sink(e);
      else events.push(e);
      if (compareHlc(e, max) > 0) max = { wall: e.wall, logical: e.logical };
    }
    prevSeq = seq;
    prevHash = hash;
  }
  // compacted events after the last one kept (a retired umount) are read too, as far as the chain goes
  if (broken === undefined) for (let h = prunedHash.get(prevSeq + 1); h !== undefined; h = prunedHash.get(prevSeq + 1)) [prevSeq, prevHash] = [prevSeq + 1, h];
  return { events, rejected, rows, max, resume: resume ?? { seq: prevSeq, hash: prevHash } };
}

function recompacted(db: Database.Database): string | undefined {
  return (db.prepare("SELECT value FROM local_state WHERE key = 'recompacted'").get() as { value: string } | undefined)?.value;
}

/** The hash of event `seq`, kept or compacted, or undefined. */
function hashAt(db: Database.Database, seq: number): string | undefined {
  const r = db.prepare("SELECT hash FROM events WHERE seq = ? UNION ALL SELECT hash FROM pruned WHERE seq = ?").get(seq, seq) as { hash: string } | undefined;
  return r?.hash;
}

/** Whether a row hashes to its own hash, and its origin fields agree for an event of this journal. */
function hashProblem(r: ChainRow, journalId: string): string | undefined {
  if (eventHash(r.prev_hash, r) !== r.hash) return "was altered (its content does not hash to its hash)";
  if (r.origin_journal === journalId && (r.origin_seq !== r.seq || r.origin_hash !== r.hash)) return "claims to originate here but its origin fields disagree";
  return undefined;
}

const EFIELD = (c: string) => `CASE WHEN typeof(e.${c}) = 'text' AND length(e.${c}) > 2100 THEN substr(e.${c}, 1, 2100) ELSE e.${c} END AS ${c}`;
/**
 * Each row of the table with the event it names (NULLs when there is none),
 * in `schema` (the reader's own connection: main; a fold importing the file:
 * the name it attached it under); key_ok: the event is of the row's key.
 * Its columns, in order, are what readLatestRows' row check takes.
 */
const selectLatest = (schema: string): string => `SELECT l.seq AS key_seq, (l.client IS e.client AND l.path IS e.path) AS key_ok,
  e.seq AS seq, e.wall AS wall, e.logical AS logical, e.node AS node, e.op AS op, ${EFIELD("client")}, ${EFIELD("path")}, e.count AS count,
  e.origin_journal AS origin_journal, e.origin_seq AS origin_seq, e.origin_hash AS origin_hash, e.prev_hash AS prev_hash, e.hash AS hash
  FROM ${schema}.latest l LEFT JOIN ${schema}.events e ON e.seq = l.seq`;
/** What names a journal file's state (its id, the table's marker, its newest event): equal in two connections, they read the same. */
const stateOf = (schema: string): string =>
  `SELECT json_array((SELECT value FROM ${schema}.meta WHERE key = 'journal_id'), (SELECT value FROM ${schema}.meta WHERE key = '${LATEST_MARKER}'),
  (SELECT json_array(seq, hash) FROM ${schema}.events ORDER BY seq DESC LIMIT 1), (SELECT count(*) FROM ${schema}.latest))`;

/**
 * A fold that takes a journal's latest-event rows in one SQL statement,
 * reading the file itself (FoldStore.importLatest): no JavaScript object per
 * row, and no row written from JavaScript. It attaches `file` under a
 * schema name of its own, checks that `state(schema)` reads `expect` there
 * (the reader's connection, which holds its read lock meanwhile, so the file
 * cannot change in between; a file renamed over it could), and folds every
 * row of `select(schema)` (columns as selectLatest's), calling `check` on
 * each: a problem refuses them all, and nothing is folded.
 */
export interface LatestImporter {
  importLatest(src: LatestSource): LatestImport;
}
export interface LatestSource {
  readonly file: string;
  readonly journalId: string;
  readonly select: (schema: string) => string;
  readonly state: (schema: string) => string;
  readonly expect: string;
  readonly check: (row: readonly unknown[]) => string | undefined;
}
/** "imported"; a row's problem (nothing folded); or "unavailable": the importer could not (the rows are read one by one instead). */
export type LatestImport = "imported" | "unavailable" | { readonly refused: string };

/**
 * The cold read from the latest-event table: the winning event of every
 * client+path, or why the journal must be read the old way. A peer's table
 * is input, not truth; it is used only when
 * - it is current: meta `latest_through` is the journal's tip (a writer
 *   that does not keep the table, e.g. an older release, makes it stale);
 * - every row names an event the journal holds, of the row's own client
 *   and path (a key twice does no harm: the fold keeps the greater);
 * - every event it names passes what a full read checks of each event:
 *   rowProblem, its own hash (hashProblem) and not stamped in the future
 *   (the winner of a key is its newest event: an event held back as from
 *   the future is always a winner, so the table never hides one);
 * - the journal's newest event does not beat its key's row (a table not
 *   kept on the last append).
 * What a cold read does not check, and a full read does: the chain's
 * continuity (prev_hash links, gaps) and the events that lose (an altered
 * or invalid event that no longer wins is not read; a row naming a loser,
 * or a key left out, is not seen). Marks still are: the view holds the
 * hashes the marks point at (`interest`), as an incremental read's does,
 * and `verify` checks the whole chain and recomputes the table.
 */
function readLatestRows(
  db: Database.Database,
  meta: JournalMeta,
  futureAfterMs: number | undefined,
  sink: (e: JournalEvent) => void,
  importer: LatestImporter | undefined,
): { max: Hlc } | { why: string } {
  const stale = latestStaleness(db);
  if (stale !== undefined) return { why: stale };
  const last = db.prepare("SELECT seq, wall, logical, node, count, client, path FROM events ORDER BY seq DESC LIMIT 1").get() as
    | { seq: number; wall: number; logical: number; node: string; count: number; client: unknown; path: unknown }
    | undefined;
  if (last !== undefined) {
    const row = db
      .prepare("SELECT e.wall, e.logical, e.node, e.count FROM latest l JOIN events e ON e.seq = l.seq WHERE l.client = ? AND l.path = ? AND e.client = l.client AND e.path = l.path")
      .get(last.client, last.path) as { wall: number; logical: number; node: string; count: number } | undefined;
    if (row === undefined || compareEvents(row, last) < 0) return { why: `the latest-event table does not account for the newest event (${last.seq})` };
  }
  const rules: RowRules = { node: meta.node };
  let max = HLC_ZERO;
  // what a full read checks of each event (the row's columns as selectLatest's)
  const check = (row: readonly unknown[]): string | undefined => {
    const [keySeq, keyOk, seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash] = row;
    const named = `the latest-event table's row naming event ${String(keySeq)}`;
    if (seq === null) return `${named}: the journal holds no such event`;
    if (keyOk !== 1) return `${named}: that event is of another client or path`;
    const r = { seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash };
    const bad = rowProblem(r, rules) ?? hashProblem(r as unknown as ChainRow, meta.journalId) ?? futureProblem(wall as number, futureAfterMs);
    if (bad !== undefined) return `${named}: the event ${bad}`;
    if (compareHlc(r as unknown as Hlc, max) > 0) max = { wall: wall as number, logical: logical as number };
    return undefined;
  };
  // A fold in a file takes the rows straight from the journal file (the lean cold path); an
  // importer that cannot (a fold in memory, a file it cannot attach) leaves them to the loop below.
  if (importer) {
    const done = importer.importLatest({ file: db.name, journalId: meta.journalId, select: selectLatest, state: stateOf, expect: db.prepare(stateOf("main")).pluck().get() as string, check });
    if (done === "imported") return { max };
    if (done !== "unavailable") return { why: done.refused };
    max = HLC_ZERO;
  }
  // Rows go to the sink as they are checked (the table is not held in memory). A row refused
  // later sends the reader back to every event: what the sink already has are sound events of
  // this journal that a full read folds too, and a fold takes each event's maximum, so folding
  // them twice changes nothing.
  for (const row of db.prepare(selectLatest("main")).raw().iterate() as IterableIterator<unknown[]>) {
    const why = check(row);
    if (why !== undefined) return { why };
    const [, , seq, wall, logical, node, op, client, path, count, , , , , hash] = row;
    sink({ journal: meta.journalId, seq, wall, logical, node, op, client, path, count, hash } as JournalEvent);
  }
  return { max };
}

/** Everything a reader needs of one journal, read in one read transaction so the parts agree. */
function readAll(db: Database.Database, file: string, cluster: string | undefined, opts: ReadOptions = {}): ReadJournal {
  return db.transaction(() => readAllNow(db, file, cluster, opts))();
}

function readAllNow(db: Database.Database, file: string, cluster: string | undefined, opts: ReadOptions): ReadJournal {
  const meta = readMeta(db, file);
  checkIdentity(file, meta, cluster);
  try {
    const withEvents = opts.events !== false;
    const pruned = db.prepare("SELECT seq, hash, origin_journal, origin_seq, origin_hash FROM pruned").all() as PrunedRow[];
    type ViewRow = { seq: number; hash: string; origin_journal: string; origin_seq: number; origin_hash: string };
    let rows: ViewRow[] = [];
    let events: JournalEvent[] = [];
    let rejected: RejectedRow[] = [];
    let max = HLC_ZERO;
    let fromMismatch = false;
    let resume: { seq: number; hash: string } | undefined;
    // a cold fold may read the latest-event table instead of the history
    const cold = withEvents && !opts.from && opts.latestTable && opts.sink && opts.interest ? readLatestRows(db, meta, opts.futureAfterMs, opts.sink, opts.importer) : undefined;
    const fromTable = cold !== undefined && "max" in cold;
    if (!withEvents || opts.from || fromTable) {
      // not every event is read: the hashes the marks point at, and the events imported from other journals
      // (two range scans of the origin index: '!=' would scan the whole table)
      rows = db
        .prepare("SELECT seq, hash, origin_journal, origin_seq, origin_hash FROM events WHERE origin_journal < @id OR origin_journal > @id")
        .all({ id: meta.journalId }) as ViewRow[];
      const one = db.prepare("SELECT seq, hash, origin_journal, origin_seq, origin_hash FROM events WHERE seq = ?");
      for (const seq of opts.interest?.get(meta.journalId) ?? []) {
        const r = one.get(seq) as ViewRow | undefined;
        if (r) rows.push(r);
      }
    }
    if (fromTable) max = cold.max;
    else if (withEvents) {
      const start = opts.from ?? { seq: 0, hash: meta.journalId };
      // the mark's event is gone or changed (rolled back, forked, replaced), or events after it were
      // compacted away before this reader saw them (a retired umount among them), or recover compacted
      // away events as the other copy did: fold from the start
      if (
        start.seq > 0 &&
        (hashAt(db, start.seq) !== start.hash || db.prepare("SELECT 1 FROM pruned WHERE seq > ? LIMIT 1").get(start.seq) || opts.from?.recompacted !== recompacted(db))
      )
        fromMismatch = true;
      else {
        // with a sink and marks of interest, the view keeps only the hashes the integrity checks look up
        const wanted = opts.sink && opts.interest ? new Set(opts.interest.get(meta.journalId) ?? []) : undefined;
        const keepRow = wanted && ((seq: number, origin: string) => origin !== meta.journalId || wanted.has(seq));
        const read = readEvents(db, meta, pruned, opts.futureAfterMs, start, { sink: opts.sink, keepRow: keepRow || undefined });
        ({ events, rejected, max, resume } = read);
        for (const r of read.rows) rows.push(r); // not push(...rows): half a million arguments overflow the stack
      }
    } else {
      // the newest stamp a clock may take from this journal: a sound one, not from the future
      const top = db
        .prepare(
          "SELECT wall, logical FROM events WHERE typeof(wall) = 'integer' AND typeof(logical) = 'integer' AND wall BETWEEN 0 AND @max AND logical >= 0 ORDER BY wall DESC, logical DESC LIMIT 1",
        )
        .get({ max: Math.min(opts.futureAfterMs ?? MAX_WALL_MS, MAX_WALL_MS) }) as Hlc | undefined;
      if (top) max = top;
    }
    const last = db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
    const hashes = new Map<number, string>();
    const origins = new Map<string, string>();
    for (const list of [pruned, rows] as const)
      for (const r of list) {
        hashes.set(r.seq, r.hash);
        if (r.origin_journal !== meta.journalId) origins.set(originKey(r.origin_journal, r.origin_seq), r.origin_hash);
      }
    if (last) hashes.set(last.seq, last.hash);
    let lastSeq = last?.seq ?? 0;
    for (const p of pruned) if (p.seq > lastSeq) lastSeq = p.seq;
    // from the table: the next incremental read starts at the tip (what a full read of a sound chain ends at)
    if (fromTable) resume = { seq: lastSeq, hash: hashes.get(lastSeq) ?? meta.journalId };
    const peerMarks = (db.prepare("SELECT journal_id, node, seq, hash FROM peer_marks").all() as { journal_id: string; node: string; seq: number; hash: string }[]).map(
      (m) => ({ journalId: m.journal_id, node: m.node, seq: m.seq, hash: m.hash }),
    );
    const metaRows = new Map(
      (db.prepare("SELECT key, value FROM meta WHERE key IN ('branch_of')").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]),
    );
    const compacted = db.prepare("SELECT value FROM local_state WHERE key = 'compacted_before'").get() as { value: string } | undefined;
    return {
      view: { file, journalId: meta.journalId, node: meta.node, hashes, lastSeq, origins },
      peerMarks,
      branchOf: metaRows.get("branch_of"),
      compactedBefore: compacted ? Number(compacted.value) : undefined,
      file,
      meta,
      events,
      rejected,
      fromMismatch,
      recompacted: recompacted(db),
      resume,
      maxHlc: max,
      lastSeq,
      lastHash: hashes.get(lastSeq) ?? meta.journalId,
      facts: latestFacts(db),
      factsChecked: factsChecked(db),
      ...(cold === undefined ? {} : { latestTable: "max" in cold ? { used: true as const } : { used: false as const, why: cold.why } }),
    };
  } catch (err) {
    throw new JournalError(file, describeSqliteError(err, file), { cause: err });
  }
}

/**
 * Reads another node's journal without writing anything to it. A crash-left
 * rollback journal on a read-only copy cannot be rolled back in place, so
 * such a file is copied (with its -journal) to a temp dir and read there.
 */
export function readJournal(file: string, cluster?: string, opts: ReadOptions = {}): ReadJournal {
  return withReadOnly(file, (db) => readAll(db, file, cluster, opts));
}

/**
 * Runs fn on a read-only connection to `file`. A crash-left rollback journal
 * on a read-only copy cannot be rolled back in place: then the database and
 * its -journal are copied to a private temp dir, rolled back there, and read.
 * fn always gets the original file name for its messages.
 */
export function withReadOnly<T>(file: string, fn: (db: Database.Database) => T): T {
  let db: Database.Database | undefined;
  try {
    try {
      db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5000 });
      db.pragma("cache_size = -2000");
      return fn(db);
    } catch (err) {
      const cause = err instanceof JournalError ? err.cause : err;
      if (sqliteCode(cause) !== "SQLITE_READONLY_ROLLBACK" && sqliteCode(cause) !== "SQLITE_READONLY_RECOVERY") {
        if (err instanceof JournalError) throw err;
        throw new JournalError(file, describeSqliteError(err, file), { cause: err });
      }
    }
    db?.close();
    db = undefined;
    const dir = mkdtempSync(join(tmpdir(), "rmtabsync-ro-"));
    try {
      const copy = join(dir, basename(file));
      copyFileSync(file, copy);
      if (existsSync(`${file}-journal`)) copyFileSync(`${file}-journal`, `${copy}-journal`);
      try {
        db = new Database(copy, { fileMustExist: true });
        return fn(db);
      } catch (err) {
        if (err instanceof JournalError) throw err;
        throw new JournalError(file, describeSqliteError(err, file), { cause: err });
      }
    } finally {
      db?.close();
      db = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    db?.close();
  }
}

/** The marks a journal's node published (what it saw of every journal); [] when unreadable. */
export function readPublishedMarks(file: string): Mark[] {
  try {
    return withReadOnly(file, (db) =>
      (db.prepare("SELECT journal_id, node, seq, hash FROM peer_marks").all() as { journal_id: string; node: string; seq: number; hash: string }[]).map((m) => ({
        journalId: m.journal_id,
        node: m.node,
        seq: m.seq,
        hash: m.hash,
      })),
    );
  } catch {
    return [];
  }
}

/** What status and metrics show of a journal, read without its events. */
export interface JournalSummary {
  /** Events it stores (sound or not: the fold reports those it cannot use). */
  readonly events: number;
  /** The newest sound event by sequence number, not from the future (looked for among the last 100). */
  readonly last: JournalEvent | undefined;
}

const SUMMARY_LOOKBACK = 100;

function summarize(db: Database.Database, meta: JournalMeta, futureAfterMs: number | undefined): JournalSummary {
  const events = (db.prepare("SELECT count(*) AS n FROM events").get() as { n: number }).n;
  const rules: RowRules = { node: meta.node };
  const newest = db.prepare(SELECT_EVENTS.replace("WHERE seq > ? ORDER BY seq", "ORDER BY seq DESC LIMIT ?"));
  for (const r of newest.iterate(SUMMARY_LOOKBACK) as IterableIterator<Record<string, unknown>>)
    if (rowProblem(r, rules) === undefined && hashProblem(r as unknown as ChainRow, meta.journalId) === undefined && futureProblem(Number(r.wall), futureAfterMs) === undefined)
      return { events, last: toEvent(meta.journalId, r as unknown as EventRow) };
  return { events, last: undefined };
}

/** A peer journal's summary, read-only (see JournalSummary). */
export function readJournalSummary(file: string, cluster: string | undefined, futureAfterMs: number | undefined): JournalSummary {
  return withReadOnly(file, (db) =>
    db.transaction(() => {
      const meta = readMeta(db, file);
      checkIdentity(file, meta, cluster);
      try {
        return summarize(db, meta, futureAfterMs);
      } catch (err) {
        throw new JournalError(file, describeSqliteError(err, file), { cause: err });
      }
    })(),
  );
}

export interface JournalFacts {
  readonly file: string;
  readonly facts: FactsRecord | undefined;
  readonly factsChecked: number | undefined;
}

/** Only a journal's newest facts (no events), read-only. */
export function readJournalFacts(file: string, cluster?: string): JournalFacts {
  return withReadOnly(file, (db) => {
    const meta = readMeta(db, file);
    checkIdentity(file, meta, cluster);
    return { file, facts: latestFacts(db), factsChecked: factsChecked(db) };
  });
}

export interface ChainData {
  readonly meta: JournalMeta;
  readonly rows: ChainRow[];
  readonly pruned: PrunedRow[];
  readonly integrity: string[];
  readonly peerMarks: Mark[];
  readonly branchOf: string | undefined;
  /** The latest-event table's rows when the table is current; undefined for a v1 journal or a stale table (readers ignore it). */
  readonly latest: LatestRow[] | undefined;
}

/** Everything verify needs of one journal: SQLite's own check, identity, the chain. */
export function readChain(file: string, cluster?: string): ChainData {
  return withReadOnly(file, (db) => {
    let integrity: string[];
    try {
      integrity = (db.pragma("integrity_check") as { integrity_check: string }[]).map((r) => r.integrity_check);
    } catch (err) {
      throw new JournalError(file, describeSqliteError(err, file), { cause: err });
    }
    const meta = readMeta(db, file);
    checkIdentity(file, meta, cluster);
    try {
      const rows = db.prepare("SELECT * FROM events ORDER BY seq").all() as ChainRow[];
      const pruned = db.prepare("SELECT seq, hash, wall, origin_journal, origin_seq, origin_hash FROM pruned").all() as PrunedRow[];
      const peerMarks = (db.prepare("SELECT journal_id, node, seq, hash FROM peer_marks").all() as { journal_id: string; node: string; seq: number; hash: string }[]).map(
        (m) => ({ journalId: m.journal_id, node: m.node, seq: m.seq, hash: m.hash }),
      );
      const b = db.prepare("SELECT value FROM meta WHERE key = 'branch_of'").get() as { value: string } | undefined;
      const latest = latestStaleness(db) === undefined ? (db.prepare("SELECT client, path, seq FROM latest").all() as LatestRow[]) : undefined;
      return { meta, rows, pruned, integrity, peerMarks, branchOf: b?.value, latest };
    } catch (err) {
      throw new JournalError(file, describeSqliteError(err, file), { cause: err });
    }
  });
}

export interface Baseline {
  /** Committed baseline (canonical rmtab content), or undefined before this node's first record. */
  readonly committed: Buffer | undefined;
  /** What a reconcile that did not finish was about to write. */
  readonly pending: Buffer | undefined;
  /** Generation: increases with every baseline written, here and in the local copy. */
  readonly gen: number;
  /** Exports this node exported when the baseline was taken (undefined: unknown). */
  readonly hosted: string[] | undefined;
  /** Names the committed content: written with it here and in the local copy, never reused. */
  readonly id: string | undefined;
}

/** What the baseline is, without its content (the pending slot's presence only). */
export type BaselineMeta = Omit<Baseline, "committed" | "pending"> & { readonly hasPending: boolean };

/** A journal opened for writing must be the file itself: SQLite would write wherever a link points. */
function refuseLink(file: string, st: Stats | undefined): void {
  if (st?.isSymbolicLink()) throw new JournalError(file, "is a symbolic link: refusing to open it (put the journal file itself there)");
}

/**
 * Journals hold client addresses and export options: 0600, whatever the
 * umask. A new one is created empty here, exclusively and not through a
 * link, before SQLite opens it; SQLite gives its -journal file the same
 * mode. An older one is tightened.
 */
function makePrivate(file: string, st: Stats | undefined): void {
  if (st === undefined) createExclusive(file, 0o600);
  else if (st.isFile() && (st.mode & 0o077) !== 0) chmodSync(file, 0o600);
}

/** This node's own journal, opened read-write. */
/**
 * Compacts events away inside the caller's transaction: each one's hash and
 * identity move to `pruned` (the chain stays checkable), the row goes, and
 * the latest-event table follows.
 */
function pruneRows(db: Database.Database, seqs: readonly number[]): void {
  const sel = db.prepare("SELECT seq, hash, wall, origin_journal, origin_seq, origin_hash FROM events WHERE seq = ?");
  const ins = db.prepare("INSERT INTO pruned (seq, hash, wall, origin_journal, origin_seq, origin_hash) VALUES (@seq, @hash, @wall, @origin_journal, @origin_seq, @origin_hash)");
  const del = db.prepare("DELETE FROM events WHERE seq = ?");
  const latest = LatestKeeper.begin(db);
  for (const s of seqs) {
    const r = sel.get(s);
    if (!r) continue;
    ins.run(r);
    latest?.deleting(s);
    del.run(s);
  }
  latest?.end();
}

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
    const st = lstatIfExists(file);
    refuseLink(file, st);
    if (st === undefined && !opts.create)
      throw new JournalError(file, `does not exist: run 'rmtabsync init' on node ${opts.node}`);
    if (st !== undefined && st.size === 0 && !opts.create)
      throw new JournalError(file, "is empty (truncated?)");
    if (!opts.readOnly) {
      const unwritable = journalWriteProblem(file);
      if (unwritable !== undefined) throw new JournalError(file, unwritable);
      makePrivate(file, st);
    }
    let db: Database.Database;
    try {
      if (opts.readOnly) {
        db = new Database(file, { readonly: true, fileMustExist: true, timeout: 10000 });
      } else {
        db = new Database(file, { timeout: 10000 });
        db.pragma("cache_size = -2000");
        db.pragma("journal_mode = DELETE");
        db.pragma("synchronous = FULL");
      }
    } catch (err) {
      throw new JournalError(file, describeSqliteError(err, file), { cause: err });
    }
    try {
      const version = db.pragma("user_version", { simple: true }) as number;
      const tables = db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number };
      if (version === 0 && tables.n === 0) {
        if (!opts.create || opts.readOnly) throw new JournalError(file, "is empty: run 'rmtabsync init'");
        createSchema(db, { cluster: opts.cluster, node: opts.node, journalId: randomUUID(), created: opts.now.toISOString() });
      }
      const meta = readMeta(db, file);
      checkIdentity(file, meta, opts.cluster);
      if (meta.node !== opts.node) throw new JournalError(file, `belongs to node "${meta.node}", not "${opts.node}"`);
      // schema v1 → v2 (or a table an older writer left stale): only the owner, only when it writes
      if (!opts.readOnly) migrateLatest(db);
      // a no-op once it exists (no write transaction)
      if (!opts.readOnly) db.exec(BASELINE_CONTENT);
      return new OwnJournal(file, db, meta);
    } catch (err) {
      db.close();
      if (err instanceof JournalError) throw err;
      throw new JournalError(file, describeSqliteError(err, file), { cause: err });
    }
  }

  close(): void {
    this.db.close();
  }

  read(opts: ReadOptions = {}): ReadJournal {
    return readAll(this.db, this.file, this.meta.cluster, opts);
  }

  summary(futureAfterMs?: number): JournalSummary {
    return this.db.transaction(() => summarize(this.db, this.meta, futureAfterMs))();
  }

  /** A value of this node's local state (e.g. "spool_folded"), read-only to callers. */
  localState(key: string): string | undefined {
    return this.state(key);
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
    return this.db.prepare("SELECT 1 FROM baseline WHERE slot = 'pending'").get() !== undefined || this.pendingSplice() !== undefined || this.pendingInBase();
  }

  /** Whether the base part is the pending rmtab (PENDING_IN_BASE names the committed baseline). */
  private pendingInBase(): boolean {
    const id = this.state(PENDING_IN_BASE);
    return id !== undefined && !this.legacySlot() && id === this.state("baseline_id") && this.hasPart(BASE);
  }

  /**
   * The pending splice, when it applies to the committed baseline: one
   * written before a commit that did not clear it (an older release's) is
   * of another baseline, and is no pending rmtab.
   */
  private pendingSplice(): Buffer | undefined {
    const p = this.part(PENDING);
    if (p === undefined) return undefined;
    const base = this.state("pending_base");
    return base !== undefined && !this.legacySlot() && base === this.state("baseline_id") ? p : undefined;
  }

  /** The pending rmtab: the 'pending' slot, else the committed baseline with the pending splice applied. */
  private pendingContent(): Buffer | undefined {
    const slot = this.slot("pending");
    if (slot !== undefined) return slot;
    if (this.pendingInBase()) return this.part(BASE);
    const p = this.pendingSplice();
    if (p === undefined) return undefined;
    const committed = this.committedContent();
    try {
      if (committed === undefined) throw new Error("no committed baseline to apply it to");
      return applySplices(committed, decodeSplices(p));
    } catch (err) {
      throw new JournalError(this.file, `its pending baseline is damaged (${err instanceof Error ? err.message : String(err)}); rmtabsync never writes it so: restore the journal, or delete its baseline_content row ${PENDING} (the next record then journals what differs from the committed baseline)`);
    }
  }

  /** Clears both forms of the pending rmtab. */
  private clearPending(): void {
    this.db.prepare("DELETE FROM baseline WHERE slot = 'pending'").run();
    if (this.hasPart(PENDING)) this.db.prepare("DELETE FROM baseline_content WHERE part = ?").run(PENDING);
    this.db.prepare("DELETE FROM local_state WHERE key = 'pending_base'").run();
    this.db.prepare("DELETE FROM local_state WHERE key = ?").run(PENDING_IN_BASE);
  }

  lastTimes(): { record?: number; reconcile?: number } {
    const r = this.state("last_record");
    const c = this.state("last_reconcile");
    return { record: r ? Number(r) : undefined, reconcile: c ? Number(c) : undefined };
  }

  baseline(): Baseline {
    const meta = this.baselineMeta();
    return { committed: this.committedContent(), pending: this.pendingContent(), gen: meta.gen, hosted: meta.hosted, id: meta.id };
  }

  /** The baseline's generation, exports and id, without reading its content. */
  baselineMeta(): BaselineMeta {
    const hosted = this.state("baseline_hosted");
    return {
      gen: Number(this.state("baseline_gen") ?? 0),
      hosted: hosted === undefined ? undefined : (JSON.parse(hosted) as string[]),
      // an older release's committed slot has no id: never taken for the local copy's content
      id: this.legacySlot() ? undefined : this.state("baseline_id"),
      hasPending: this.pendingReconcile(),
    };
  }

  private legacySlot(): boolean {
    return this.db.prepare("SELECT 1 FROM baseline WHERE slot = 'committed'").get() !== undefined;
  }

  private slot(slot: string): Buffer | undefined {
    return (this.db.prepare("SELECT content FROM baseline WHERE slot = ?").get(slot) as { content: Buffer } | undefined)?.content;
  }

  /** Whether baseline_content holds `part` (its content not read: the base is megabytes). */
  private hasPart(part: number): boolean {
    if (this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'baseline_content'").get() === undefined) return false;
    return this.db.prepare("SELECT 1 FROM baseline_content WHERE part = ?").get(part) !== undefined;
  }

  /** A part of baseline_content (none in a read-only journal an older release wrote last). */
  private part(part: number): Buffer | undefined {
    if (this.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'baseline_content'").get() === undefined) return undefined;
    return (this.db.prepare("SELECT content FROM baseline_content WHERE part = ?").get(part) as { content: Buffer } | undefined)?.content;
  }

  /**
   * The committed rmtab: an older release's 'committed' slot (it writes no
   * other, and one written after ours is newer), else the base with its edits.
   */
  private committedContent(): Buffer | undefined {
    const legacy = this.slot("committed");
    if (legacy !== undefined) return legacy;
    const base = this.part(BASE);
    if (base === undefined) return undefined;
    try {
      return applySplices(base, this.edits());
    } catch (err) {
      throw new JournalError(this.file, `its baseline's edits are damaged (${err instanceof Error ? err.message : String(err)}); rmtabsync never writes them so: restore the journal, or delete its baseline_content rows (the next record then starts from rmtab as it is)`);
    }
  }

  private edits(): Splice[] {
    const e = this.part(EDITS);
    return e === undefined ? [] : decodeSplices(e);
  }

  /**
   * The committed rmtab becomes `content`, named `id`. When `prev` is what
   * the baseline held (the same id), only the splice from it to `content`
   * is written, while the edits stay small; otherwise the whole content.
   */
  private putCommitted(content: Buffer, id: string, prev: { id: string; content: Buffer } | undefined): void {
    const same = prev !== undefined && !this.legacySlot() && this.state("baseline_id") === prev.id;
    const edits = same ? withSplice(this.edits(), smallSpliceOf(prev.content, content)) : undefined;
    if (edits) this.putPart(EDITS, encodeSplices(edits));
    else {
      this.putPart(BASE, content);
      this.db.prepare("DELETE FROM baseline_content WHERE part = ?").run(EDITS);
      this.db.prepare("DELETE FROM baseline WHERE slot = 'committed'").run();
    }
    this.setState("baseline_id", id);
  }

  private putPart(part: number, content: Buffer): void {
    this.db.prepare("INSERT INTO baseline_content (part, content) VALUES (?, ?) ON CONFLICT (part) DO UPDATE SET content = excluded.content").run(part, content);
  }

  private putSlot(slot: string, content: Buffer | string): void {
    this.db
      .prepare("INSERT INTO baseline (slot, content) VALUES (?, ?) ON CONFLICT (slot) DO UPDATE SET content = excluded.content")
      .run(slot, typeof content === "string" ? Buffer.from(content, "utf8") : content);
  }

  /**
   * Appends changes (each stamped by the hybrid logical clock past `seen`)
   * and moves the baseline to `current`, in one transaction.
   */
  commitRecord(args: {
    changes: readonly Change[];
    seen: Hlc;
    nowMs: number;
    /** The canonical content of rmtab as read now: the new baseline. */
    current: Buffer;
    /** Names `current` (see Baseline.id). */
    id: string;
    /** The baseline the changes were found against: only the edit from it is written when it is the journal's. */
    previous?: { id: string; content: Buffer };
    /** Exports exported now (etab), kept with the baseline. */
    hosted: readonly string[];
    /** The new baseline generation. */
    gen: number;
    what: "record" | "reconcile";
    /** Stamps later than this (ms) never feed the clock (see appendEvents). */
    futureAfterMs?: number;
    /** More local state to set in the same transaction (e.g. which spool files were folded). */
    state?: Readonly<Record<string, string>>;
  }): JournalEvent[] {
    let out: JournalEvent[] = [];
    this.db.transaction(() => {
      out = this.appendEvents(args.changes, args.seen, args.nowMs, args.futureAfterMs);
      for (const [k, v] of Object.entries(args.state ?? {})) this.setState(k, v);
      this.putCommitted(args.current, args.id, args.previous);
      this.clearPending();
      this.setState("baseline_hosted", JSON.stringify(args.hosted));
      this.setState("baseline_gen", String(args.gen));
      this.setState(args.what === "record" ? "last_record" : "last_reconcile", String(args.nowMs));
      if (args.what === "reconcile") this.setState("last_record", String(args.nowMs));
    }).immediate();
    return out;
  }

  /** Sets a value of this node's local state (not an event: peers and the fold ignore it). */
  setLocalState(key: string, value: string): void {
    this.setState(key, value);
  }

  /** A record that found nothing to journal: only its time is noted. */
  noteRecorded(nowMs: number): void {
    this.setState("last_record", String(nowMs));
  }

  /**
   * Appends changes stamped by the hybrid logical clock past `seen`, in one
   * transaction. A stamp later than `futureAfterMs` (a peer's or our own
   * clock was far ahead once) does not feed the clock: taking it would pin
   * every later stamp to it for ever.
   */
  appendEvents(changes: readonly Change[], seen: Hlc, nowMs: number, futureAfterMs = nowMs + DEFAULT_MAX_CLOCK_SKEW_MS): JournalEvent[] {
    const out: JournalEvent[] = [];
    const id = this.meta.journalId;
    const sane = (h: Hlc | undefined): Hlc => (h !== undefined && h.wall <= futureAfterMs ? h : HLC_ZERO);
    this.db.transaction(() => {
      let clock = maxHlc(sane(seen), sane(this.seenHlc()));
      const last = this.db.prepare("SELECT seq, hash, wall, logical FROM events ORDER BY seq DESC LIMIT 1").get() as
        | { seq: number; hash: string; wall: number; logical: number }
        | undefined;
      clock = maxHlc(clock, sane(last));
      let prev = last?.hash ?? id;
      // AUTOINCREMENT never reuses a sequence number, even after deletes.
      const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
      let seq = seqRow?.seq ?? 0;
      const ins = this.db.prepare(INSERT_EVENT);
      const latest = LatestKeeper.begin(this.db);
      for (const c of changes) {
        clock = tick(clock, nowMs);
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
        latest?.inserted(row);
        out.push(toEvent(id, { ...row, origin_hash: hash, prev_hash: prev, hash }));
        prev = hash;
      }
      latest?.end();
      this.setState("hlc_seen", `${clock.wall}.${clock.logical}`);
    }).immediate();
    return out;
  }

  /**
   * Compaction: removes the given events, keeping their hashes and identity
   * in `pruned` so the chain and every mark stay checkable; then VACUUM.
   */
  prune(seqs: readonly number[], before: number): void {
    this.db.transaction(() => {
      pruneRows(this.db, seqs);
      const cur = Number(this.state("compacted_before") ?? 0);
      if (before > cur) this.setState("compacted_before", String(before));
    }).immediate();
    this.db.exec("VACUUM");
  }

  /**
   * Publishes this node's facts: a new version only when they differ from
   * the newest one. Returns the version in force and whether it is new.
   */
  publishFacts(body: unknown, format: number, nowMs: number): { version: number; changed: boolean } {
    const text = canonicalJson(body);
    const hash = createHash("sha256").update(`${format}\n${text}`).digest("hex");
    const latest = latestFacts(this.db);
    if (latest && latest.hash === hash) {
      // Unchanged: only note when they were confirmed, at most once a minute (one write less per record).
      if (factsDue(factsChecked(this.db), nowMs)) this.setState("facts_checked", String(nowMs));
      return { version: latest.version, changed: false };
    }
    return this.db.transaction(() => {
      this.setState("facts_checked", String(nowMs));
      const r = this.db.prepare("INSERT INTO facts (wall, format, body, hash) VALUES (?, ?, ?, ?)").run(nowMs, format, text, hash);
      return { version: Number(r.lastInsertRowid), changed: true };
    }).immediate();
  }

  /** When this node last collected its facts (ms), changed or not. */
  factsChecked(): number | undefined {
    return factsChecked(this.db);
  }

  /** The newest facts this node published, if any. */
  latestFacts(): FactsRecord | undefined {
    return latestFacts(this.db);
  }

  /** Newest event of this journal (compacted ones included). */
  tip(): { seq: number; hash: string } {
    // two index lookups: max() over a UNION would scan both tables
    const r = this.db.prepare("SELECT max(coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT max(seq) FROM pruned), 0)) AS seq").get() as { seq: number | null };
    if (r.seq === 0) r.seq = null;
    if (r.seq === null) return { seq: 0, hash: this.meta.journalId };
    const h = (this.db.prepare("SELECT hash FROM events WHERE seq = ? UNION ALL SELECT hash FROM pruned WHERE seq = ?").get(r.seq, r.seq) as { hash: string }).hash;
    return { seq: r.seq, hash: h };
  }

  /** Publishes this node's marks (what it saw of every journal) for verify and the peers. */
  publishMarks(marks: readonly Mark[], nowMs: number): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM peer_marks").run();
      const ins = this.db.prepare("INSERT INTO peer_marks (journal_id, node, seq, hash, seen_wall) VALUES (?, ?, ?, ?, ?)");
      for (const m of marks) ins.run(m.journalId, m.node, m.seq, m.hash, nowMs);
    }).immediate();
  }

  /** Raises the persisted highest-seen stamp. */
  noteSeen(seen: Hlc): void {
    if (compareHlc(seen, this.seenHlc()) > 0) this.setState("hlc_seen", `${seen.wall}.${seen.logical}`);
  }

  /**
   * Before renaming a new rmtab into place: remember what it holds, in case
   * we crash. `prev`: the committed baseline (its id and content) when the
   * caller holds it: then only the splice from it to `next` is written, when
   * small enough to join the edits; grown past that, `next` is written as
   * the base with the edit back to `prev` (PENDING_IN_BASE: once, nothing
   * is copied at the commit); otherwise whole, in the 'pending' slot.
   */
  markPending(next: Buffer, hosted: readonly string[], prev?: { id: string; content: Buffer }): void {
    this.db.transaction(() => {
      this.clearPending();
      const id = this.state("baseline_id");
      const known = prev !== undefined && id === prev.id && !this.legacySlot() && this.hasPart(BASE);
      const splice = known ? smallSpliceOf(prev.content, next) : undefined;
      // grown past a splice (a takeover's new lines): the new rmtab is the base, the committed one its edit back
      const back = known && splice === undefined ? smallSpliceOf(next, prev.content) : undefined;
      if (splice !== undefined) {
        this.putPart(PENDING, encodeSplices([splice]));
        this.setState("pending_base", id!);
      } else if (back !== undefined) {
        this.putPart(BASE, next);
        this.putPart(EDITS, encodeSplices([back]));
        this.setState(PENDING_IN_BASE, id!);
      } else this.putSlot("pending", next);
      this.setState("pending_hosted", JSON.stringify(hosted));
    }).immediate();
  }

  /**
   * After the rename is durable: the pending rmtab is the baseline, of
   * generation `gen`, named `id` (a new one: see Baseline.id). `content`:
   * the caller's copy of what it marked (else it is read from the journal).
   */
  commitPending(nowMs: number, next?: { gen: number; id: string; content?: Buffer }, state?: Readonly<Record<string, string>>): void {
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(state ?? {})) this.setState(k, v);
      // Only the slots' names are read: a lookup by name in this WITHOUT ROWID table reads every
      // multi-megabyte row it compares with, a scan of the first column does not.
      const slots = this.db.prepare("SELECT slot FROM baseline").pluck().all() as string[];
      const whole = slots.includes("pending");
      const inBase = !whole && this.pendingInBase();
      const splice = whole || inBase ? undefined : this.pendingSplice();
      if (inBase) {
        // the base is the pending rmtab already: the edit back to the old baseline goes, nothing is copied
        this.db.prepare("DELETE FROM baseline_content WHERE part = ?").run(EDITS);
        this.committedPending(next);
      } else if (splice !== undefined) {
        // the splice joins the committed baseline's edits while they stay small, else the whole content is the new base
        const edits = next !== undefined ? withSplice(this.edits(), decodeSplices(splice)[0]!) : undefined;
        if (edits) this.putPart(EDITS, encodeSplices(edits));
        else {
          this.putPart(BASE, next?.content ?? this.pendingContent()!);
          this.db.prepare("DELETE FROM baseline_content WHERE part = ?").run(EDITS);
        }
        this.committedPending(next);
      } else if (whole) {
        // the pending slot becomes the base: the caller's copy of it (what it marked), or read inside SQLite
        if (next?.content !== undefined)
          this.db.prepare("INSERT INTO baseline_content (part, content) VALUES (?, ?) ON CONFLICT (part) DO UPDATE SET content = excluded.content").run(BASE, next.content);
        else
          this.db
            .prepare("INSERT INTO baseline_content (part, content) SELECT ?, content FROM baseline WHERE slot = 'pending' ON CONFLICT (part) DO UPDATE SET content = excluded.content")
            .run(BASE);
        this.db.prepare("DELETE FROM baseline_content WHERE part = ?").run(EDITS);
        // the pending slot and an older release's committed one: the table is emptied
        this.db.prepare("DELETE FROM baseline").run();
        this.committedPending(next);
      }
      this.setState("last_reconcile", String(nowMs));
    }).immediate();
  }

  /** The rest of commitPending once the content is in place: the pending rmtab's exports, generation and id. */
  private committedPending(next: { gen: number; id: string } | undefined): void {
    this.clearPending();
    this.setState("baseline_hosted", this.state("pending_hosted") ?? "[]");
    // without an id the content has none the local copy could match
    if (next !== undefined) this.setState("baseline_gen", String(next.gen));
    if (next !== undefined) this.setState("baseline_id", next.id);
    else this.db.prepare("DELETE FROM local_state WHERE key = 'baseline_id'").run();
  }
}

/**
 * Write access to any journal of the volume, for `recover` only (an
 * administrator's action on a quiet cluster): appends events verbatim
 * (continuing their chain) or re-chained into a branch journal.
 */
export class JournalWriter {
  private constructor(
    readonly file: string,
    private readonly db: Database.Database,
    readonly meta: JournalMeta,
    /** A journal being created: where it is built until finish() renames it to `file`. */
    private readonly tmp?: string,
  ) {}

  static open(file: string, cluster: string): JournalWriter {
    refuseLink(file, lstatIfExists(file));
    const db = new Database(file, { fileMustExist: true, timeout: 10000 });
    try {
      db.pragma("journal_mode = DELETE");
      db.pragma("synchronous = FULL");
      const meta = readMeta(db, file);
      checkIdentity(file, meta, cluster);
      return new JournalWriter(file, db, meta);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Creates a journal with the given identity (a copy of a missing journal,
   * or a branch) under a temporary name; finish() puts it in place with its
   * rows, so a crash never leaves an empty or partial journal.
   */
  static create(file: string, m: { cluster: string; node: string; journalId: string; created: string; branchOf?: string; branchAt?: number }): JournalWriter {
    const st = lstatIfExists(file);
    if (st !== undefined) throw new JournalError(file, st.isSymbolicLink() ? "already exists (a symbolic link)" : "already exists");
    const tmp = tempJournalFile(file);
    makePrivate(tmp, undefined);
    const db = new Database(tmp);
    try {
      db.pragma("journal_mode = DELETE");
      db.pragma("synchronous = FULL");
      createSchema(db, m);
      return new JournalWriter(file, db, readMeta(db, file), tmp);
    } catch (err) {
      db.close();
      rmSync(tmp, { force: true });
      throw err;
    }
  }

  /** All written: a created journal is fsynced and renamed into place (the directory fsynced). */
  finish(): void {
    if (this.tmp === undefined) return;
    this.db.close();
    try {
      publishTempJournal(this.tmp, this.file);
    } catch (err) {
      throw new JournalError(this.file, `could not put the new journal in place: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  /** Closes; a created journal that was not finished is discarded. */
  close(): void {
    if (this.db.open) this.db.close();
    if (this.tmp !== undefined && existsSync(this.tmp)) rmSync(this.tmp, { force: true });
  }

  branchOf(): string | undefined {
    const r = this.db.prepare("SELECT value FROM meta WHERE key = 'branch_of'").get() as { value: string } | undefined;
    return r?.value;
  }

  /** Appends events with their own seq and hashes (they continue this journal's chain). */
  appendVerbatim(rows: readonly ChainRow[], pruned: readonly PrunedRow[] = []): void {
    const ins = this.db.prepare(INSERT_EVENT);
    const insPruned = this.db.prepare(
      "INSERT INTO pruned (seq, hash, wall, origin_journal, origin_seq, origin_hash) VALUES (@seq, @hash, @wall, @origin_journal, @origin_seq, @origin_hash)",
    );
    this.db.transaction(() => {
      const latest = LatestKeeper.begin(this.db);
      for (const r of rows) {
        ins.run(r);
        latest?.inserted(r);
      }
      // events the other copy compacted away: their hashes keep the chain whole
      for (const p of pruned) insPruned.run({ ...p, wall: p.wall ?? 0 });
      latest?.end();
    }).immediate();
  }

  /**
   * Compacts away events another copy of this journal compacted away (recover):
   * like prune, their hashes and identity stay in `pruned`.
   */
  pruneVerbatim(seqs: readonly number[]): void {
    this.db.transaction(() => {
      pruneRows(this.db, seqs);
      // unlike compaction, this changes the fold: a reader that folded these events folds again (see readAllNow)
      this.db
        .prepare("INSERT INTO local_state (key, value) VALUES ('recompacted', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(randomUUID());
    }).immediate();
  }

  /** Appends events under new sequence numbers and a new chain, keeping their origin and timestamps. */
  appendRechained(rows: readonly ChainRow[]): void {
    this.db.transaction(() => {
      const last = this.db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
      const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
      let seq = seqRow?.seq ?? 0;
      let prev = last?.hash ?? this.meta.journalId;
      const ins = this.db.prepare(INSERT_EVENT);
      const latest = LatestKeeper.begin(this.db);
      for (const r of rows) {
        seq++;
        const row = { ...r, seq };
        const hash = eventHash(prev, row);
        ins.run({ ...row, prev_hash: prev, hash });
        latest?.inserted(row);
        prev = hash;
      }
      latest?.end();
    }).immediate();
  }
}
