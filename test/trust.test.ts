// Never undo a live mount: a reconcile that waited for the lock, peer
// journals written by a broken or hostile node, clocks far ahead, and
// evidence of a split-brain read out of order (issue 9, items 1, 3, 5, 6, 9).
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { eventHash } from "../src/core/integrity.js";
import { parseRmtab } from "../src/core/rmtab.js";
import { reconcile, type SyncContext } from "../src/sync.js";
import { CLI, line, started, TestCluster } from "./helpers/cluster.js";

function ctx(c: TestCluster, node: string, extra: Partial<SyncContext> = {}): SyncContext {
  return { cfg: loadConfig(c.configFile(node)), node, lockTimeoutMs: 10_000, now: () => Date.now(), warn: () => undefined, ...extra };
}

function journal(c: TestCluster, node: string): string {
  return join(c.control, "journals", `${node}.sqlite`);
}

interface Row {
  wall?: unknown;
  logical?: unknown;
  node?: unknown;
  op?: unknown;
  client?: unknown;
  path?: unknown;
  count?: unknown;
}

/**
 * Appends rows to a journal the way a broken or hostile owner would: any
 * value, with a valid hash chain (so only the content is wrong). `badHash`
 * stores a wrong hash instead.
 */
function appendHostile(file: string, rows: Row[], opts: { badHash?: boolean; untyped?: boolean } = {}): number[] {
  const db = new Database(file);
  // a hostile node's journal need not keep our CHECK constraints, nor our column types
  db.pragma("ignore_check_constraints = ON");
  if (opts.untyped)
    db.exec(`CREATE TABLE ev2 (seq INTEGER PRIMARY KEY AUTOINCREMENT, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash);
      INSERT INTO ev2 SELECT * FROM events; DROP TABLE events; ALTER TABLE ev2 RENAME TO events;`);
  try {
    const id = (db.prepare("SELECT value FROM meta WHERE key = 'journal_id'").get() as { value: string }).value;
    const node = (db.prepare("SELECT value FROM meta WHERE key = 'node'").get() as { value: string }).value;
    const last = db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").get() as { seq: number; hash: string } | undefined;
    let seq = last?.seq ?? 0;
    let prev = last?.hash ?? id;
    const seqs: number[] = [];
    for (const r of rows) {
      seq++;
      const row = {
        seq,
        wall: r.wall ?? Date.now(),
        logical: r.logical ?? 0,
        node: r.node ?? node,
        op: r.op ?? "mount",
        client: r.client ?? "10.9.9.9",
        path: r.path ?? "/srv/vm1",
        count: r.count ?? 1,
        origin_journal: id,
        origin_seq: seq,
      };
      let hash = eventHash(prev, row as never);
      if (opts.badHash) hash = "0".repeat(64);
      db.prepare(
        "INSERT INTO events (seq, wall, logical, node, op, client, path, count, origin_journal, origin_seq, origin_hash, prev_hash, hash) VALUES (@seq, @wall, @logical, @node, @op, @client, @path, @count, @origin_journal, @origin_seq, @hash, @prev, @hash)",
      ).run({ ...row, hash, prev });
      prev = hash;
      seqs.push(seq);
    }
    return seqs;
  } finally {
    db.close();
  }
}

function table(c: TestCluster, node = "ds03"): string[] {
  return c
    .json<{ mounts: { client: string; path: string; count: number }[] }>(node, ["show"])
    .mounts.map((m) => `${m.client} ${m.path} ${m.count}`)
    .sort();
}

describe("a reconcile that waited for mountd's lock", () => {
  for (const peerMoved of [true, false])
  it(`does not undo a count or a mount another process recorded meanwhile (${peerMoved ? "a peer changed: journals read before the lock" : "nothing else moved: the no-op check"})`, async () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    if (peerMoved) {
      c.mountd("ds04", "mount", "10.0.0.40", "/srv/vm1");
      c.ok("ds04", ["record"]);
    }
    let ran = false;
    const r = await reconcile(
      ctx(c, "ds03", {
        // between reconcile's first read of the journals and its lock: the daemon records
        beforeLock: () => {
          if (ran) return;
          c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
          c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
          c.ok("ds03", ["record"]);
          ran = true;
        },
      }),
    );
    expect(ran).toBe(true);
    expect(r.removed).toEqual([]);
    expect(r.changed).toEqual([]);
    const peer = peerMoved ? [line("10.0.0.40", "/srv/vm1")] : [];
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0", 2), line("10.0.0.2", "/srv/vm0"), ...peer].sort());
    expect(table(c)).toEqual(["10.0.0.1 /srv/vm0 2", "10.0.0.2 /srv/vm0 1", ...(peerMoved ? ["10.0.0.40 /srv/vm1 1"] : [])]);
  });
});

describe("a peer journal written by a broken or hostile node", () => {
  const cases: [string, Row, { untyped?: boolean }?][] = [
    ["a count of 2^40", { count: 2 ** 40, client: "10.0.0.5", path: "/srv/vm0" }],
    ["a count of -1", { count: -1, client: "10.0.0.5", path: "/srv/vm0", op: "count" }],
    ["a count of 2.5", { count: 2.5, client: "10.0.0.5", path: "/srv/vm0", op: "count" }],
    ["an integer client", { client: 42, path: "/srv/vm0" }, { untyped: true }],
    ["an integer path", { client: "10.0.0.8", path: 7 }, { untyped: true }],
    ["a blob client", { client: Buffer.from("10.0.0.8"), path: "/srv/vm0" }],
    ["a carriage return in the client", { client: "10.0.0.8\r", path: "/srv/vm0" }],
    ["a '..' path component", { client: "10.0.0.8", path: "/srv/vm0/../../etc" }],
    ["a ':' in the path", { client: "10.0.0.8", path: "/srv/vm0:x" }],
    ["an unknown operation", { op: "drop", client: "10.0.0.5", path: "/srv/vm0" }],
    ["another node's name", { node: "ds03", op: "umount", count: 0, client: "10.0.0.5", path: "/srv/vm0" }],
    ["a time no Date can hold", { wall: 9e15, client: "10.0.0.8", path: "/srv/vm0" }],
  ];
  for (const [what, row, how] of cases) {
    it(`with ${what}: rows are rejected at the read, reconcile goes add-only naming it, the live line stays canonical`, () => {
      const c = started();
      c.mountd("ds03", "mount", "10.0.0.5", "/srv/vm0");
      c.ok("ds03", ["reconcile"]);
      c.ok("ds04", ["reconcile"]);
      appendHostile(journal(c, "ds04"), [row], how);
      const r = c.run("ds03", ["reconcile", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.addOnly).toBe(true);
      expect(r.stderr).toMatch(/ds04\.sqlite \(holds events that cannot be used\): 1 event not used; event \d+/);
      // the live mount is still there, exactly as mountd wrote it
      expect(c.lines("ds03")).toEqual([line("10.0.0.5", "/srv/vm0")]);
      expect(parseRmtab(c.rmtab("ds03")).canonical).toBe(true);
      // show, log and status still work on every node
      for (const n of ["ds03", "ds04"]) {
        expect(c.run(n, ["show"]).code).toBe(0);
        expect(c.run(n, ["log"]).code).toBe(0);
      }
      const st = c.run("ds03", ["status", "--json"]);
      expect(JSON.parse(st.stdout).findings.map((f: { id: string }) => f.id)).toContain("journal-invalid");
      // verify names the event
      const v = c.run("ds03", ["verify"]);
      expect(v.code).toBe(1);
      expect(v.stdout).toMatch(/invalid-event: .*ds04\.sqlite event \d+/);
      // a second run changes nothing (no write-quarantine loop)
      const again = JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout);
      expect(again.written).toBe(false);
    });
  }

  it("a 16 MiB client name is rejected without flooding the log", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.5", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    appendHostile(journal(c, "ds04"), [{ client: "x".repeat(16 << 20), path: "/srv/vm1" }]);
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(0);
    expect(r.stderr.length).toBeLessThan(4000);
    expect(r.stderr).toMatch(/client address longer than 1024 bytes/);
    expect(c.lines("ds03")).toEqual([line("10.0.0.5", "/srv/vm0")]);
  });

  it("an event whose hash is wrong is not folded; the events after it still are", () => {
    const c = started();
    c.ok("ds03", ["reconcile"]);
    appendHostile(journal(c, "ds04"), [{ client: "10.0.0.30", path: "/srv/vm1" }], { badHash: true });
    const r = JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout);
    expect(r.addOnly).toBe(true);
    expect(c.lines("ds03")).toEqual([]);
    expect(JSON.stringify(r.problems)).toMatch(/was altered/);
  });

  it("events claiming another node neither show as that node's nor win its ties", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.5", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    appendHostile(journal(c, "ds04"), [{ node: "ds03", op: "umount", count: 0, client: "10.0.0.5", path: "/srv/vm0" }]);
    expect(table(c)).toEqual(["10.0.0.5 /srv/vm0 1"]);
    const log = c.json<{ events: { node: string; op: string }[] }>("ds03", ["log"]).events;
    expect(log.map((e) => `${e.node} ${e.op}`)).toEqual(["ds03 mount"]);
  });
});

describe("clocks", () => {
  it("one event stamped 9e15 pins no clock; show, log and status keep working", () => {
    const c = started();
    c.ok("ds04", ["reconcile"]);
    appendHostile(journal(c, "ds04"), [{ wall: 9e15, client: "10.0.0.8", path: "/srv/vm1" }]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    const log = c.json<{ events: { client: string; time: string }[] }>("ds03", ["log"]).events;
    const mine = log.find((e) => e.client === "10.0.0.1")!;
    expect(Math.abs(Date.parse(mine.time.replace(/\+\d+$/, "")) - Date.now())).toBeLessThan(120_000);
    expect(c.run("ds03", ["status"]).code).toBeLessThan(3);
  });

  it("a node whose clock is 10 minutes ahead (beyond maxClockSkew 5m) is held back and flagged, and pulls no other clock", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.40", "/srv/vm1");
    execFileSync("faketime", ["-f", "+10m", process.execPath, CLI, "-c", c.configFile("ds04"), "-n", "ds04", "record"], { stdio: "pipe" });
    const r = c.run("ds03", ["reconcile", "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).addOnly).toBe(true);
    expect(r.stderr).toMatch(/stamped in the future.*beyond the clock skew/);
    const st = JSON.parse(c.run("ds03", ["status", "--json"]).stdout);
    expect(st.findings.map((f: { id: string }) => f.id)).toContain("journal-future");
    // ds03's own events carry its own time, not ds04's
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const ev = c.json<{ events: { node: string; time: string }[] }>("ds03", ["log", "--origin", "ds03"]).events;
    expect(Math.abs(Date.parse(ev[ev.length - 1]!.time.replace(/\+\d+$/, "")) - Date.now())).toBeLessThan(120_000);
    // once the clocks agree again (here: a larger accepted skew) the event is folded
    c.extraConfig = "maxClockSkew: 15m\n";
    c.writeConfigs();
    expect(JSON.parse(c.ok("ds03", ["reconcile", "--json"]).stdout).addOnly).toBe(false);
    expect(c.lines("ds03")).toContain(line("10.0.0.40", "/srv/vm1"));
  });
});

describe("split-brain evidence read in one consistent order", () => {
  it("a peer's mark of an event recorded while reconcile was reading is not taken for a rollback", async () => {
    const c = new TestCluster(["ds03", "ds04", "ds05"]);
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    for (const n of c.nodes) c.ok(n, ["reconcile"]);
    // something to read, so ds05's reconcile is not a no-op
    c.mountd("ds04", "mount", "10.0.0.4", "/srv/vm1");
    c.ok("ds04", ["record"]);
    let fired = false;
    const r = await reconcile(
      ctx(c, "ds05", {
        // after ds05 read ds03's journal, ds03 records and ds04 sees (and publishes) it
        afterJournalRead: (file) => {
          if (fired || !file.endsWith("ds03.sqlite")) return;
          fired = true;
          c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
          c.ok("ds03", ["record"]);
          c.ok("ds04", ["reconcile"]);
        },
      }),
    );
    expect(fired).toBe(true);
    expect(r.problems).toEqual([]);
    expect(r.addOnly).toBe(false);
    // and the next reconcile folds the new event
    const again = await reconcile(ctx(c, "ds05"));
    expect(again.problems).toEqual([]);
    expect(c.lines("ds05")).toEqual([line("10.0.0.3", "/srv/vm0"), line("10.0.0.4", "/srv/vm1")]);
  });
});
