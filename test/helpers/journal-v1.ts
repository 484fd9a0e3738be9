// Builds a journal the way rmtabsync wrote it before schema v2 (no
// latest-event table): the v1 DDL and meta exactly as createSchema had them,
// frozen here so the migration keeps being tested against real v1 files.
// Events are chained with the project's eventHash, as appendEvents did.
import Database from "better-sqlite3";
import { eventHash } from "../../src/core/integrity.js";

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
CREATE TABLE baseline (slot TEXT PRIMARY KEY, content BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE local_state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE peer_marks (journal_id TEXT PRIMARY KEY, node TEXT NOT NULL, seq INTEGER NOT NULL, hash TEXT NOT NULL, seen_wall INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE pruned (seq INTEGER PRIMARY KEY, hash TEXT NOT NULL, wall INTEGER NOT NULL, origin_journal TEXT NOT NULL, origin_seq INTEGER NOT NULL, origin_hash TEXT NOT NULL);
CREATE TABLE facts (version INTEGER PRIMARY KEY AUTOINCREMENT, wall INTEGER NOT NULL, format INTEGER NOT NULL, body TEXT NOT NULL, hash TEXT NOT NULL);
`;

export interface V1Event {
  readonly op: "mount" | "umount" | "count" | "forget";
  readonly client: string;
  readonly path: string;
  readonly count: number;
  readonly wall: number;
  readonly logical?: number;
}

/** Creates `file` as a v1 journal of `node` holding `events` (seq 1..n, in order). */
export function makeV1Journal(file: string, m: { cluster: string; node: string; journalId: string }, events: readonly V1Event[]): void {
  const db = new Database(file);
  try {
    db.pragma("journal_mode = DELETE");
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      const ins = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
      ins.run("format", "rmtabsync-journal");
      ins.run("cluster", m.cluster);
      ins.run("node", m.node);
      ins.run("journal_id", m.journalId);
      ins.run("created", "2026-01-01T00:00:00.000Z");
      db.pragma("user_version = 1");
      appendV1(db, m, events);
    })();
  } finally {
    db.close();
  }
}

/** Appends events the way a v1 writer does (no latest-event table): also what an older release does to a v2 journal. */
export function appendV1(db: Database.Database, m: { node: string; journalId: string }, events: readonly V1Event[]): void {
  const last = db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
  const seqRow = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
  let seq = seqRow?.seq ?? 0;
  let prev = last?.hash ?? m.journalId;
  const ins = db.prepare(`INSERT INTO events (seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash)
    VALUES (@seq, @wall, @logical, @node, @op, @client, @path, @count, @origin_journal, @origin_seq, @origin_hash, @prev_hash, @hash)`);
  for (const e of events) {
    seq++;
    const row = { seq, wall: e.wall, logical: e.logical ?? 0, node: m.node, op: e.op, client: e.client, path: e.path, count: e.count, origin_journal: m.journalId, origin_seq: seq };
    const hash = eventHash(prev, row);
    ins.run({ ...row, origin_hash: hash, prev_hash: prev, hash });
    prev = hash;
  }
}
