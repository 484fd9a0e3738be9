// Benchmark helper: appends events straight into a journal with
// better-sqlite3, the way OwnJournal.appendEvents writes them (same columns,
// the project's eventHash chain, origin = this journal), so every row passes
// the reader's checks (rowProblem in src/core/event-check.ts, the hash
// chain). Used to build long histories (1M events in seconds, where one
// `record` per event would take hours) and to time a peer's commit exactly.
// Only for a journal no other process writes at the same time.
import Database from "better-sqlite3";
import { eventHash } from "../src/core/integrity.js";
import { LatestKeeper } from "../src/io/latest-table.js";

export interface BenchEvent {
  readonly op: "mount" | "umount";
  readonly client: string;
  readonly path: string;
  /** Stamp (ms since 1970); must not go backwards, nor beyond the readers' clock plus their accepted skew. */
  readonly wall: number;
}

const INSERT = `INSERT INTO events (seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash)
  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

export class JournalRows {
  private readonly db: Database.Database;
  private readonly ins: Database.Statement;
  readonly journalId: string;
  readonly node: string;
  private seq: number;
  private prev: string;
  private lastWall: number;
  private logical: number;

  constructor(readonly file: string) {
    this.db = new Database(file, { fileMustExist: true, timeout: 10_000 });
    this.db.pragma("journal_mode = DELETE");
    this.db.pragma("synchronous = FULL");
    const meta = new Map((this.db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    this.journalId = meta.get("journal_id")!;
    this.node = meta.get("node")!;
    const last = this.db.prepare("SELECT seq, hash, wall, logical FROM events ORDER BY seq DESC LIMIT 1").get() as
      | { seq: number; hash: string; wall: number; logical: number }
      | undefined;
    const seqRow = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
    this.seq = seqRow?.seq ?? 0;
    this.prev = last?.hash ?? this.journalId;
    this.lastWall = last?.wall ?? 0;
    this.logical = last?.logical ?? 0;
    this.ins = this.db.prepare(INSERT);
  }

  /** Appends the events in one transaction (hybrid logical clock: a stamp not past the last one ticks `logical`). */
  append(events: readonly BenchEvent[]): void {
    this.db.transaction(() => {
      // a v2 journal's latest-event table, kept as appendEvents keeps it (a v1 journal of an older build stays v1)
      const latest = LatestKeeper.begin(this.db);
      for (const e of events) {
        if (e.wall > this.lastWall) {
          this.lastWall = e.wall;
          this.logical = 0;
        } else this.logical++;
        this.seq++;
        const count = e.op === "mount" ? 1 : 0;
        const row = {
          seq: this.seq,
          wall: this.lastWall,
          logical: this.logical,
          node: this.node,
          op: e.op,
          client: e.client,
          path: e.path,
          count,
          origin_journal: this.journalId,
          origin_seq: this.seq,
        };
        const hash = eventHash(this.prev, row);
        this.ins.run(row.seq, row.wall, row.logical, row.node, row.op, row.client, row.path, count, this.journalId, row.seq, hash, this.prev, hash);
        latest?.inserted({ ...row, count });
        this.prev = hash;
      }
      latest?.end();
    })();
  }

  close(): void {
    this.db.close();
  }
}
