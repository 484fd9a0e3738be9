// Schema v2 of a journal: the latest-event table. For every client+path the
// journal holds events of, `latest` names its winning event there (by
// compareEvents: stamp, then node, then count; events recover imported count
// like any other). Every writer of this code keeps it in the transaction that
// appends or removes events, and then notes in meta `latest_through` the
// journal's tip (its highest sequence number, compacted events included)
// the table accounts for.
//
// A writer that does not know the table (an older rmtabsync after a
// downgrade, a hand-made edit) leaves it behind: triggers delete
// `latest_through` whenever an events row is inserted, deleted or updated,
// so such a write marks the table stale even where the tip does not move (a
// compaction). A reader uses the table only when `latest_through` is the
// tip; the owner rebuilds a stale or missing table when it opens its journal
// for writing (migrateLatest).
//
// PRAGMA user_version stays 1: the table and its triggers are additive, and
// rmtabsync releases before it refuse a journal whose user_version is newer
// than theirs (readMeta), which would make a new node's journal unreadable
// to the old nodes of a cluster in the middle of a rolling upgrade. v2 is
// told by the table (and its marker), not by user_version. user_version goes
// up only for a change an older reader would misread.
import type Database from "better-sqlite3";
import { compareEvents } from "../core/events.js";
import { latestOf, type KeyedEvent } from "../core/latest-table.js";
import { entryKey } from "../core/rmtab.js";

/** The meta key naming the tip through which the table is maintained. */
export const LATEST_MARKER = "latest_through";

export const LATEST_SCHEMA = `
CREATE TABLE latest (client TEXT NOT NULL, path TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (client, path)) WITHOUT ROWID;
CREATE TRIGGER latest_stale_insert AFTER INSERT ON events BEGIN DELETE FROM meta WHERE key = '${LATEST_MARKER}'; END;
CREATE TRIGGER latest_stale_delete AFTER DELETE ON events BEGIN DELETE FROM meta WHERE key = '${LATEST_MARKER}'; END;
CREATE TRIGGER latest_stale_update AFTER UPDATE ON events BEGIN DELETE FROM meta WHERE key = '${LATEST_MARKER}'; END;
`;

/** Whether the journal has the table (v2) at all. */
export function hasLatestTable(db: Database.Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'latest'").get() !== undefined;
}

/** The journal's highest sequence number, kept or compacted (0 when it has none). */
export function tipSeq(db: Database.Database): number {
  const r = db.prepare("SELECT max(coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT max(seq) FROM pruned), 0)) AS seq").get() as { seq: unknown };
  return typeof r.seq === "number" ? r.seq : 0;
}

/** The tip `latest_through` names, or undefined (no marker, or not a number). */
export function latestThrough(db: Database.Database): number | undefined {
  const r = db.prepare(`SELECT value FROM meta WHERE key = '${LATEST_MARKER}'`).get() as { value: unknown } | undefined;
  if (r === undefined || typeof r.value !== "string" || !/^\d+$/.test(r.value)) return undefined;
  return Number(r.value);
}

/** Why the table cannot stand for the events (missing, or stale), or undefined when it is current. */
export function latestStaleness(db: Database.Database): string | undefined {
  if (!hasLatestTable(db)) return "the journal has no latest-event table (schema v1)";
  const through = latestThrough(db);
  const tip = tipSeq(db);
  if (through === undefined) return "the latest-event table is stale (events were written by a writer that does not keep it)";
  if (through !== tip) return `the latest-event table is stale (kept through event ${through}, the journal's tip is ${tip})`;
  return undefined;
}

function setThrough(db: Database.Database): void {
  db.prepare(`INSERT INTO meta (key, value) VALUES ('${LATEST_MARKER}', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`).run(String(tipSeq(db)));
}

type Stamp = { seq: number; wall: number; logical: number; node: string; count: number };

/**
 * Keeps the table within one write transaction: begin() before the first
 * events row is written (the triggers remove the marker as soon as one is),
 * inserted()/deleting() for each row, end() before the commit. A table that
 * was not current at begin() is left stale, for the owner to rebuild.
 */
export class LatestKeeper {
  private readonly recompute = new Set<string>();
  private readonly keys = new Map<string, { client: string; path: string }>();
  private readonly rowOf: Database.Statement;
  private readonly upsert: Database.Statement;
  private readonly eventKey: Database.Statement;
  private readonly winner: Database.Statement;

  private constructor(private readonly db: Database.Database) {
    this.rowOf = db.prepare(
      "SELECT e.seq, e.wall, e.logical, e.node, e.count FROM latest l JOIN events e ON e.seq = l.seq WHERE l.client = ? AND l.path = ?",
    );
    this.upsert = db.prepare("INSERT INTO latest (client, path, seq) VALUES (?, ?, ?) ON CONFLICT (client, path) DO UPDATE SET seq = excluded.seq");
    // prepared once: a compaction deletes thousands of events in one transaction
    this.eventKey = db.prepare("SELECT client, path FROM events WHERE seq = ?");
    this.winner = db.prepare("SELECT seq FROM latest WHERE client = ? AND path = ?");
  }

  /** A keeper for this transaction, or undefined when the table is missing or stale (nothing to keep). */
  static begin(db: Database.Database): LatestKeeper | undefined {
    return latestStaleness(db) === undefined ? new LatestKeeper(db) : undefined;
  }

  /** An events row was just inserted. */
  inserted(e: Stamp & { client: string; path: string }): void {
    const cur = this.rowOf.get(e.client, e.path) as Stamp | undefined;
    if (cur === undefined || compareEvents(e, cur) > 0) this.upsert.run(e.client, e.path, e.seq);
  }

  /** The events row `seq` is about to be deleted: when it is its key's winner, the key is recomputed at end(). */
  deleting(seq: number): void {
    const e = this.eventKey.get(seq) as { client: string; path: string } | undefined;
    if (e === undefined) return;
    const row = this.winner.get(e.client, e.path) as { seq: number } | undefined;
    if (row?.seq !== seq) return;
    const k = entryKey(e.client, e.path);
    this.recompute.add(k);
    this.keys.set(k, e);
  }

  /** Recomputes the keys whose winner was deleted (one pass over the events), then notes the new tip. */
  end(): void {
    if (this.recompute.size > 0) {
      const del = this.db.prepare("DELETE FROM latest WHERE client = ? AND path = ?");
      for (const k of this.recompute) {
        const { client, path } = this.keys.get(k)!;
        del.run(client, path);
      }
      const left: KeyedEvent[] = [];
      for (const e of this.db.prepare("SELECT seq, wall, logical, node, count, client, path FROM events").iterate() as IterableIterator<KeyedEvent>)
        if (this.recompute.has(entryKey(e.client, e.path))) left.push(e);
      for (const w of latestOf(left).values()) this.upsert.run(w.client, w.path, w.seq);
    }
    setThrough(this.db);
  }
}

/**
 * Migration v1 → v2, and the rebuild of a stale table: run by the owner when
 * it opens its journal for writing. One IMMEDIATE transaction: a crash at
 * any point leaves the journal as it was (v1, or v2 with its stale table),
 * or migrated. Returns what it did.
 */
export function migrateLatest(db: Database.Database): "current" | "created" | "rebuilt" {
  // the usual case, without taking the write lock; checked again under it
  if (latestStaleness(db) === undefined) return "current";
  return db.transaction(() => {
    const had = hasLatestTable(db);
    if (had && latestStaleness(db) === undefined) return "current" as const;
    if (!had) db.exec(LATEST_SCHEMA);
    db.exec("DELETE FROM latest");
    const all = db.prepare("SELECT seq, wall, logical, node, count, client, path FROM events").iterate() as IterableIterator<KeyedEvent>;
    const ins = db.prepare("INSERT INTO latest (client, path, seq) VALUES (?, ?, ?)");
    for (const w of latestOf(all).values()) ins.run(w.client, w.path, w.seq);
    setThrough(db);
    return had ? ("rebuilt" as const) : ("created" as const);
  }).immediate();
}

/** For a new journal (createSchema): the table, empty, current through tip 0. */
export function createLatest(db: Database.Database): void {
  db.exec(LATEST_SCHEMA);
  setThrough(db);
}
