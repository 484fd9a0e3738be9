// Schema v2: the latest-event table of each journal. Migration from v1 (real
// v1 files, see helpers/journal-v1.ts), the table kept by every path that
// writes events, the cold read from it (equal to a full fold, or refused with
// a fallback when stale or hostile), and verify's recomputation. Real SQLite
// files throughout.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import type { JournalEvent } from "../src/core/events.js";
import { compareEvents } from "../src/core/events.js";
import { latestTableProblems } from "../src/core/latest-table.js";
import { entryKey } from "../src/core/rmtab.js";
import { JournalWriter, OwnJournal, readChain, readJournal, withReadOnly, type LatestImport, type LatestSource, type ReadJournal } from "../src/io/journal.js";
import { hasLatestTable, latestStaleness } from "../src/io/latest-table.js";
import { foldCacheFile, FoldStore } from "../src/io/fold-cache.js";
import { foldLine } from "../src/core/rmtab.js";
import { HLC_ZERO } from "../src/core/hlc.js";
import { appendV1, makeV1Journal, type V1Event } from "./helpers/journal-v1.js";
import { CLI, python3, started, TestCluster } from "./helpers/cluster.js";

const CLUSTER = "test";
const T0 = Date.UTC(2026, 5, 1);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "rmtabsync-latest-"));
  dirs.push(d);
  return d;
}

/** A history with every kind of winner: a re-mount, a count, an umount, a forget, a same-millisecond tie. */
function history(n = 1): V1Event[] {
  const out: V1Event[] = [];
  let w = T0;
  for (let i = 0; i < n; i++) {
    const c = `10.0.${i >> 8}.${i & 255}`;
    out.push({ op: "mount", client: c, path: "/srv/vm0", count: 1, wall: (w += 10) });
    out.push({ op: "mount", client: c, path: "/srv/vm1", count: 1, wall: (w += 10) });
    out.push({ op: "count", client: c, path: "/srv/vm0", count: 2, wall: w, logical: 1 });
    out.push({ op: "umount", client: c, path: "/srv/vm1", count: 0, wall: (w += 10) });
    out.push({ op: "mount", client: c, path: "/srv/vm2", count: 1, wall: (w += 10) });
    out.push({ op: "forget", client: c, path: "/srv/vm2", count: 0, wall: (w += 10) });
  }
  return out;
}

/** The fold of one journal read cold: from the table when it can (`latestTable`), or every event. */
function fold(file: string, latestTable: boolean, futureAfterMs?: number): { text: string; read: ReadJournal } {
  const f = new Map<string, JournalEvent>();
  const sink = (e: JournalEvent) => {
    const k = entryKey(e.client, e.path);
    const cur = f.get(k);
    if (cur === undefined || compareEvents(e, cur) > 0) f.set(k, e);
  };
  const read = readJournal(file, CLUSTER, { sink, interest: new Map(), latestTable, futureAfterMs });
  const text = JSON.stringify([...f.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { text, read };
}

/** A fold as one text: every key's winner, in key order, its fields in a fixed order. */
function foldText(f: ReadonlyMap<string, JournalEvent>): string {
  return JSON.stringify(
    [...f.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, e]) => [k, e.journal, e.seq, e.wall, e.logical, e.node, e.op, e.client, e.path, e.count, e.hash]),
  );
}

/**
 * The journals read cold, in turn, into one new fold file that takes the
 * tables' rows itself (FoldStore.importLatest, the lean path) where it can:
 * the fold as foldText, each journal's read, and every row's line checked
 * against foldLine (the import writes it in SQL).
 */
function foldImported(files: readonly string[], futureAfterMs?: number): { text: string; reads: ReadJournal[] } {
  const state = tempDir();
  const exportOf = (path: string) => (path.startsWith("/srv/vm1") ? "vm1" : path.startsWith("/srv/") ? "srv" : "");
  const store = FoldStore.fresh(state, undefined, exportOf);
  const sink = (e: JournalEvent) => {
    const k = entryKey(e.client, e.path);
    const cur = store.get(k);
    if (cur === undefined || compareEvents(e, cur) > 0) store.set(k, e);
  };
  const reads = files.map((file) => readJournal(file, CLUSTER, { sink, interest: new Map(), latestTable: true, futureAfterMs, importer: store }));
  expect(store.save(state, { key: "k", sources: new Map(), seen: HLC_ZERO, unchanged: undefined })).toBeUndefined();
  const f = new Map<string, JournalEvent>();
  const db = new Database(foldCacheFile(state), { readonly: true });
  try {
    for (const r of db.prepare("SELECT export, client, path, journal, seq, wall, logical, node, op, count, hash, line FROM fold").all() as (JournalEvent & { export: string; line: string | null })[]) {
      const { export: name, line, ...e } = r;
      expect(name, `the export of ${e.path}`).toBe(exportOf(e.path));
      expect(line, `the line of ${e.client} ${e.path}`).toBe(foldLine(e));
      f.set(entryKey(e.client, e.path), e);
    }
  } finally {
    db.close();
  }
  return { text: foldText(f), reads };
}

/** The fold of journals read one by one into a map, every event (what a full fold is). */
function foldFull(files: readonly string[], futureAfterMs?: number): string {
  const f = new Map<string, JournalEvent>();
  const sink = (e: JournalEvent) => {
    const k = entryKey(e.client, e.path);
    const cur = f.get(k);
    if (cur === undefined || compareEvents(e, cur) > 0) f.set(k, e);
  };
  for (const file of files) readJournal(file, CLUSTER, { sink, interest: new Map(), latestTable: false, futureAfterMs });
  return foldText(f);
}

/** The table is current and equals the one recomputed from the events. */
function expectCurrent(file: string): void {
  const c = readChain(file, CLUSTER);
  expect(c.latest, "the table is current").toBeDefined();
  expect(latestTableProblems(c.rows, c.latest!)).toEqual([]);
}

/** A cold read used the table, and its fold (and resume point, max stamp) equal a full read's. */
function expectColdEqualsFull(file: string): void {
  const cold = fold(file, true);
  const full = fold(file, false);
  expect(cold.read.latestTable).toEqual({ used: true });
  expect(cold.text).toBe(full.text);
  expect(cold.read.resume).toEqual(full.read.resume);
  expect(cold.read.maxHlc).toEqual(full.read.maxHlc);
  expect([cold.read.lastSeq, cold.read.lastHash]).toEqual([full.read.lastSeq, full.read.lastHash]);
  // the lean path: the rows imported by a fold file in SQL, the same fold
  const lean = foldImported([file]);
  expect(lean.reads[0]!.latestTable).toEqual({ used: true });
  expect(lean.text).toBe(foldFull([file]));
  expect(lean.reads[0]!.resume).toEqual(full.read.resume);
  expect(lean.reads[0]!.maxHlc).toEqual(full.read.maxHlc);
}

function v1(dir: string, events = history(3)): string {
  const file = join(dir, "ds03.sqlite");
  makeV1Journal(file, { cluster: CLUSTER, node: "ds03", journalId: "11111111-2222-3333-4444-555555555555" }, events);
  return file;
}

const openOwn = (file: string, readOnly = false) => OwnJournal.open(file, { cluster: CLUSTER, node: "ds03", create: false, readOnly, now: new Date(T0) });

function sqlite(file: string, f: (db: Database.Database) => void): void {
  const db = new Database(file);
  try {
    f(db);
  } finally {
    db.close();
  }
}

/** What a hostile or buggy writer does to the table while keeping the marker current. */
function markCurrent(db: Database.Database): void {
  const tip = (db.prepare("SELECT max(coalesce((SELECT max(seq) FROM events), 0), coalesce((SELECT max(seq) FROM pruned), 0)) AS s").get() as { s: number }).s;
  db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('latest_through', ?)").run(String(tip));
}

describe("schema v2: migration from v1", () => {
  it("a v1 journal is read the old way; the owner's open for writing migrates it, and a cold read then folds the same", () => {
    const file = v1(tempDir());
    const before = fold(file, false).text;
    const old = fold(file, true);
    expect(old.read.latestTable).toEqual({ used: false, why: expect.stringMatching(/no latest-event table \(schema v1\)/) });
    expect(old.text).toBe(before);
    // a read-only open (status) migrates nothing
    openOwn(file, true).close();
    sqlite(file, (db) => expect(hasLatestTable(db)).toBe(false));

    openOwn(file).close();
    sqlite(file, (db) => {
      expect(hasLatestTable(db)).toBe(true);
      expect(db.pragma("user_version", { simple: true })).toBe(1); // older readers keep reading it
    });
    expectCurrent(file);
    expectColdEqualsFull(file);
    expect(fold(file, true).text).toBe(before);
  });

  it("a SIGKILL during the migration leaves a v1 or a current v2 journal, never anything else", async () => {
    // a v1 journal in a real cluster: record opens it for writing (and migrates it) first
    const c = started();
    const file = join(c.control, "journals", "ds03.sqlite");
    const id = readChain(file, CLUSTER).meta.journalId;
    rmSync(file);
    makeV1Journal(file, { cluster: CLUSTER, node: "ds03", journalId: id }, history(5_000));
    const pristine = `${file}.v1`;
    copyFileSync(file, pristine);
    const want = fold(file, false).text;
    const seen = { v1: 0, v2: 0 };
    for (let i = 0; i < 8; i++) {
      copyFileSync(pristine, file);
      rmSync(`${file}-journal`, { force: true });
      const child = spawn(process.execPath, [CLI, "-c", c.configFile("ds03"), "-n", "ds03", "record"], { stdio: "ignore" });
      const exited = new Promise((r) => child.once("exit", r));
      await new Promise((r) => setTimeout(r, 100 + i * 200));
      child.kill("SIGKILL");
      await exited;
      // read-only, as a peer would (a crash-left -journal is rolled back on a private copy)
      const state = withReadOnly(file, (db) => (hasLatestTable(db) ? (latestStaleness(db) ?? "current") : "v1"));
      expect(["v1", "current"]).toContain(state);
      seen[state === "v1" ? "v1" : "v2"]++;
      expect(fold(file, false).text).toBe(want);
      expect(fold(file, true).text).toBe(want);
    }
    // then the owner finishes it
    c.ok("ds03", ["record"]);
    expectCurrent(file);
    expectColdEqualsFull(file);
    console.log(`migration killed 8 times: ${seen.v1} left v1, ${seen.v2} left v2`);
  }, 120_000);
});

describe("schema v2: the table is kept by every writer", () => {
  it("appendEvents, prune (a pruned winner is recomputed or its row removed), recover's appendVerbatim, pruneVerbatim and appendRechained", () => {
    const dir = tempDir();
    const file = join(dir, "ds03.sqlite");
    const own = OwnJournal.open(file, { cluster: CLUSTER, node: "ds03", create: true, now: new Date(T0) });
    expectCurrent(file);
    const ch = (op: "mount" | "umount" | "count", client: string, path: string, count: number) => ({ op, client, path, count });
    own.appendEvents([ch("mount", "a", "/srv/vm0", 1), ch("mount", "b", "/srv/vm0", 1)], { wall: T0, logical: 0 }, T0);
    const copy = join(dir, "copy", "ds03.sqlite");
    mkdirSync(join(dir, "copy"));
    own.appendEvents([ch("count", "a", "/srv/vm0", 3), ch("umount", "b", "/srv/vm0", 0)], { wall: T0, logical: 0 }, T0 + 10);
    expectCurrent(file);
    expectColdEqualsFull(file);
    // a copy of the journal as it was after the first append (recover's other copy)
    copyFileSync(file, copy);
    sqlite(copy, (db) => db.exec("DELETE FROM events WHERE seq > 2"));
    expect(readChain(copy, CLUSTER).latest).toBeUndefined(); // stale: the events changed behind the table's back
    openOwn(copy).close(); // its owner's open rebuilds it
    expectCurrent(copy);
    own.appendEvents([ch("mount", "c", "/srv/vm1", 1)], { wall: T0, logical: 0 }, T0 + 20);

    // compaction: a's winner (seq 3) goes, a's older mount stays: the row is recomputed to seq 1;
    // b's umount and its mount go: b's row is removed
    own.prune([3, 2, 4], T0 + 15);
    expectCurrent(file);
    const rows = readChain(file, CLUSTER).latest!;
    expect(rows.map((r) => `${String(r.client)} ${String(r.seq)}`).sort()).toEqual(["a 1", "c 5"]);
    expectColdEqualsFull(file);

    // recover: the copy takes the events it lacks verbatim, then compacts away what the other copy compacted
    const full = readChain(file, CLUSTER);
    const w = JournalWriter.open(copy, CLUSTER);
    w.appendVerbatim(
      full.rows.filter((r) => r.seq > 2),
      full.pruned.filter((p) => p.seq > 2),
    );
    w.close();
    const w2 = JournalWriter.open(copy, CLUSTER);
    w2.pruneVerbatim([2]);
    w2.close();
    expectCurrent(copy);

    // a branch journal: events re-chained under new sequence numbers
    const branch = join(dir, "ds03~abcdef12.sqlite");
    const b = JournalWriter.create(branch, { cluster: CLUSTER, node: "ds03", journalId: "99999999-2222-3333-4444-555555555555", created: new Date(T0).toISOString(), branchOf: own.meta.journalId });
    b.appendRechained(readChain(file, CLUSTER).rows);
    b.finish();
    expectCurrent(branch);
    own.close();
  });
});

describe("schema v2: a cold read uses the table only when it can trust it", () => {
  function migrated(): string {
    const file = v1(tempDir());
    openOwn(file).close();
    return file;
  }

  it("a stale table (an older release appended, or the marker names an older tip) is ignored; the owner rebuilds it", () => {
    const file = migrated();
    // an older release writing its journal after a downgrade knows nothing of the table
    sqlite(file, (db) => appendV1(db, { node: "ds03", journalId: readChain(file, CLUSTER).meta.journalId }, [{ op: "umount", client: "10.0.0.0", path: "/srv/vm0", count: 0, wall: T0 + 100_000 }]));
    const full = fold(file, false);
    const cold = fold(file, true);
    expect(cold.read.latestTable).toEqual({ used: false, why: expect.stringMatching(/stale/) });
    expect(cold.text).toBe(full.text);
    expect(full.text).toContain('"op":"umount","client":"10.0.0.0"');
    expect(readChain(file, CLUSTER).latest).toBeUndefined(); // verify leaves a stale table alone

    openOwn(file).close();
    expectCurrent(file);
    expectColdEqualsFull(file);

    sqlite(file, (db) => db.prepare("UPDATE meta SET value = '3' WHERE key = 'latest_through'").run());
    expect(fold(file, true).read.latestTable).toEqual({ used: false, why: expect.stringMatching(/kept through event 3, the journal's tip is 19/) });
  });

  const hostile: [string, (db: Database.Database) => void, RegExp][] = [
    ["a row naming another key's event", (db) => db.exec("UPDATE latest SET seq = 2 WHERE client = '10.0.0.0' AND path = '/srv/vm0'"), /that event is of another client or path/],
    ["a row naming an event that does not exist", (db) => db.exec("UPDATE latest SET seq = 999 WHERE client = '10.0.0.1' AND path = '/srv/vm0'"), /naming event 999: the journal holds no such event/],
    ["a row for a key with no event", (db) => db.exec("INSERT INTO latest (client, path, seq) VALUES ('10.9.9.9', '/srv/vm0', 999)"), /holds no such event/],
    ["a text sequence number", (db) => db.exec("UPDATE latest SET seq = 'x' WHERE client = '10.0.0.1' AND path = '/srv/vm0'"), /naming event x: the journal holds no such event/],
    [
      "a winning event altered in place",
      (db) => {
        db.exec("UPDATE events SET count = 7 WHERE seq = 3");
        markCurrent(db);
      },
      /naming event 3: the event was altered/,
    ],
    [
      "a winning event with an invalid row",
      (db) => {
        db.exec("UPDATE events SET node = 'ds04' WHERE seq = 3");
        markCurrent(db);
      },
      /naming event 3: the event claims to be recorded by node "ds04"/,
    ],
    [
      "the newest event not accounted for",
      (db) => {
        db.exec("DELETE FROM latest WHERE seq = (SELECT max(seq) FROM events)");
        markCurrent(db);
      },
      /does not account for the newest event \(18\)/,
    ],
  ];
  for (const [what, harm, why] of hostile)
    it(`${what}: the table is refused and the journal read the old way`, () => {
      const file = migrated();
      sqlite(file, harm);
      const cold = fold(file, true);
      expect(cold.read.latestTable).toEqual({ used: false, why: expect.stringMatching(why) });
      const full = fold(file, false);
      expect(cold.text).toBe(full.text);
      expect(cold.read.rejected).toEqual(full.read.rejected);
      // a fold file importing the rows refuses them all alike, and folds the events instead
      const lean = foldImported([file]);
      expect(lean.reads[0]!.latestTable).toEqual({ used: false, why: expect.stringMatching(why) });
      expect(lean.text).toBe(foldFull([file]));
    });

  it("a winner stamped in the future is never taken from the table (the full read holds it back)", () => {
    const file = v1(tempDir(), [...history(2), { op: "umount", client: "10.0.0.1", path: "/srv/vm0", count: 0, wall: T0 + 3_600_000 }]);
    openOwn(file).close();
    const cold = fold(file, true, T0 + 60_000);
    expect(cold.read.latestTable).toEqual({ used: false, why: expect.stringMatching(/stamped .* beyond the clock skew/) });
    const full = fold(file, false, T0 + 60_000);
    expect(cold.text).toBe(full.text);
    expect(full.read.rejected.map((r) => r.kind)).toEqual(["future"]);
    const lean = foldImported([file], T0 + 60_000);
    expect(lean.reads[0]!.latestTable).toEqual({ used: false, why: expect.stringMatching(/stamped .* beyond the clock skew/) });
    expect(lean.text).toBe(foldFull([file], T0 + 60_000));
  });

  it("the lean path: journals imported into one fold file, keys in both, fold as a full fold does (compareEvents), lines as foldLine", () => {
    const dir = tempDir();
    const a = join(dir, "ds03.sqlite");
    const b = join(dir, "ds04.sqlite");
    makeV1Journal(a, { cluster: CLUSTER, node: "ds03", journalId: "11111111-2222-3333-4444-555555555555" }, history(40));
    // ds04 took some keys over later, and lost one tie (same stamp: the node name decides), with clients mountd writes with ';'
    const later: V1Event[] = [];
    for (let i = 0; i < 40; i += 3) later.push({ op: "mount", client: `10.0.0.${i}`, path: "/srv/vm1/sub", count: 3, wall: T0 + 1_000_000 + i });
    later.push({ op: "count", client: "10.0.0.1", path: "/srv/vm0", count: 5, wall: T0 + 30 + 60 * 1, logical: 1 });
    later.push({ op: "mount", client: "fe80::1", path: "/srv/vm0", count: 1, wall: T0 + 2_000_000 });
    later.push({ op: "umount", client: "10.0.0.5", path: "/srv/vm0", count: 0, wall: T0 + 2_000_001 });
    makeV1Journal(b, { cluster: CLUSTER, node: "ds04", journalId: "66666666-2222-3333-4444-555555555555" }, later);
    for (const [file, node] of [
      [a, "ds03"],
      [b, "ds04"],
    ] as const)
      OwnJournal.open(file, { cluster: CLUSTER, node, create: false, now: new Date(T0) }).close();
    for (const order of [
      [a, b],
      [b, a],
    ]) {
      const lean = foldImported(order);
      expect(lean.reads.map((r) => r.latestTable)).toEqual([{ used: true }, { used: true }]);
      expect(lean.text).toBe(foldFull(order));
    }
    expect(foldFull([a, b])).toContain('"fe80::1"');
  });

  it("the lean path declines (the rows are read one by one) when the file is gone or does not read as the reader's connection did", () => {
    const file = migrated();
    const state = tempDir();
    const store = FoldStore.fresh(state);
    const src = { file, journalId: "x", select: () => "SELECT 1", state: () => "SELECT 'now'", expect: "then", check: () => undefined };
    expect(store.importLatest(src)).toBe("unavailable");
    const gone = join(state, "gone.sqlite");
    expect(store.importLatest({ ...src, file: gone })).toBe("unavailable");
    expect(existsSync(gone), "ATTACH made no file").toBe(false);
    store.close();
    // and a reader with such an importer folds as a full read does
    const refusing = { importLatest: () => "unavailable" as const };
    const f = new Map<string, JournalEvent>();
    const read = readJournal(file, CLUSTER, { sink: (e) => void f.set(entryKey(e.client, e.path), e), interest: new Map(), latestTable: true, importer: refusing });
    expect(read.latestTable).toEqual({ used: true });
    expect(foldText(f)).toBe(foldFull([file]));
  });
  it("the lean path imports while another process waits to commit to the journal (its pending lock), and that commit lands after", async () => {
    const file = migrated();
    const dir = tempDir();
    const marker = join(dir, "in-commit");
    // a writer (the owner's record) whose COMMIT waits for the reader's shared lock, holding SQLite's pending lock meanwhile
    const writer = `import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT OR REPLACE INTO local_state (key, value) VALUES ('probe', 'committed')")
open(sys.argv[2], "w").close()
con.execute("COMMIT")
`;
    const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    let exited: Promise<number | null> | undefined;
    let otherReader = "";
    const store = FoldStore.fresh(dir);
    let imported: LatestImport | undefined;
    const importer = {
      importLatest: (src: LatestSource): LatestImport => {
        const child = spawn(python3(), ["-c", writer, file, marker], { stdio: "inherit" });
        exited = new Promise((res) => child.on("exit", res));
        for (let i = 0; i < 1000 && !existsSync(marker); i++) pause(10);
        pause(300);
        // another process cannot start reading now: the writer holds the pending lock
        otherReader = spawnSync(python3(), ["-c", "import sqlite3, sys\ntry:\n  sqlite3.connect(sys.argv[1], timeout=0).execute('SELECT count(*) FROM meta').fetchall(); print('read')\nexcept sqlite3.OperationalError as e: print(e)", file], { encoding: "utf8" }).stdout.trim();
        imported = store.importLatest(src);
        return imported;
      },
    };
    const read = readJournal(file, CLUSTER, { sink: () => undefined, interest: new Map(), latestTable: true, importer });
    expect(otherReader).toBe("database is locked");
    // this process's reader holds the shared lock: the fold's own connection shares it, and imports
    expect(imported).toBe("imported");
    expect(read.latestTable).toEqual({ used: true });
    expect(await exited).toBe(0);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM local_state WHERE key = 'probe'").pluck().get()).toBe("committed");
    } finally {
      db.close();
    }
    // the imported rows are the full fold's
    expect(store.save(dir, { key: "k", sources: new Map(), seen: HLC_ZERO, unchanged: undefined })).toBeUndefined();
    const rows = new Database(foldCacheFile(dir), { readonly: true });
    try {
      const g = new Map<string, JournalEvent>();
      for (const r of rows.prepare("SELECT client, path, journal, seq, wall, logical, node, op, count, hash FROM fold").all() as JournalEvent[]) g.set(entryKey(r.client, r.path), r);
      expect(foldText(g)).toBe(foldFull([file]));
    } finally {
      rows.close();
    }
  });
});

function sql(db: string, statement: string): void {
  spawnSync(python3(), ["-c", `import sqlite3\ncon = sqlite3.connect(${JSON.stringify(db)})\ncon.executescript(${JSON.stringify(statement)})\ncon.commit()`], { stdio: "inherit" });
}

describe("verify recomputes the latest-event table", () => {
  it("reports a missing, a wrong and an extra row, naming the journal file", () => {
    const c = started();
    for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) c.mountd("ds03", "mount", ip, "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "umount", "10.0.0.2", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.run("ds04", ["verify", "--json"]).code).toBe(0);
    const file = join(c.control, "journals", "ds03.sqlite");
    sql(
      file,
      "DELETE FROM latest WHERE client = '10.0.0.1'; UPDATE latest SET seq = 2 WHERE client = '10.0.0.2'; INSERT INTO latest (client, path, seq) VALUES ('10.0.0.9', '/srv/vm0', 3);",
    );
    const r = c.run("ds04", ["verify", "--json"]);
    expect(r.code).toBe(1);
    const findings = (JSON.parse(r.stdout) as { findings: { check: string; file: string; seq?: number; problem: string }[] }).findings.filter((f) => f.check === "latest-table");
    expect(findings.map((f) => [f.file, f.seq, f.problem])).toEqual([
      [file, 2, expect.stringMatching(/row for client "10.0.0.2" path "\/srv\/vm0" names event 2, but the winning event is 4/)],
      [file, 3, expect.stringMatching(/row for client "10.0.0.9" path "\/srv\/vm0" \(event 3\) has no event in the journal/)],
      [file, 1, expect.stringMatching(/no row for client "10.0.0.1" path "\/srv\/vm0" \(its winning event is 1\)/)],
    ]);
    expect(c.run("ds04", ["verify"]).stdout).toMatch(/latest-table: .*ds03\.sqlite/);
  });
});

// The rolling upgrade against a build of the previous release (its dist/cli.js): RMTABSYNC_OLD_CLI=/path/to/old/dist/cli.js
const OLD_CLI = process.env.RMTABSYNC_OLD_CLI;
describe.skipIf(!OLD_CLI || !existsSync(OLD_CLI))("rolling upgrade with the previous release", () => {
  it("an old node reads a new node's v2 journal; an old writer (downgrade) leaves the table stale, the new one rebuilds it", () => {
    const c = new TestCluster();
    const old = (node: string, args: string[]) => {
      const r = spawnSync(process.execPath, [OLD_CLI!, "-c", c.configFile(node), "-n", node, ...args], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`old rmtabsync ${args.join(" ")} on ${node}: ${r.status}\n${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    c.ok("ds03", ["init"]);
    old("ds04", ["init"]);
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    expect(JSON.parse(old("ds04", ["reconcile", "--json"])).problems).toEqual([]);
    expect(c.lines("ds04")).toEqual(["10.0.0.1:/srv/vm0:0x00000001"]);
    expect(JSON.parse(old("ds04", ["verify", "--json"])).findings).toEqual([]);
    // ds03 downgraded: the old release records into its v2 journal and compacts it
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    old("ds03", ["record"]);
    old("ds03", ["compact"]);
    const file = join(c.control, "journals", "ds03.sqlite");
    expect(fold(file, true).read.latestTable).toEqual({ used: false, why: expect.stringMatching(/stale/) });
    // a cold fold on the new node: from the table where it is current, else every event
    rmSync(foldCacheFile(c.stateDir("ds04")), { force: true });
    c.ok("ds04", ["init"]);
    expect(c.json<{ problems: unknown[] }>("ds04", ["reconcile"]).problems).toEqual([]);
    expect(c.lines("ds04")).toEqual(["10.0.0.1:/srv/vm0:0x00000001", "10.0.0.2:/srv/vm0:0x00000001"]);
    // upgraded again: its first write rebuilds the table
    c.ok("ds03", ["reconcile"]);
    expectCurrent(file);
    expect(JSON.parse(old("ds04", ["verify", "--json"])).findings).toEqual([]);
    expect(c.json<{ findings: unknown[] }>("ds04", ["verify"]).findings).toEqual([]);
  });
});
