// Trust under failure: hash chains, rollbacks, forks, split-brain recovery,
// forget, compaction and damaged journals. Real SQLite files throughout.
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { line, python3, TestCluster, started } from "./helpers/cluster.js";

type Row = { client: string; path: string; count: number; export: string | null; node: string; op?: string };

function sql(db: string, statement: string): void {
  execFileSync(python3(), ["-c", `import sqlite3\ncon = sqlite3.connect(${JSON.stringify(db)})\ncon.executescript(${JSON.stringify(statement)})\ncon.commit()`]);
}

function table(c: TestCluster, node = "ds03", args: string[] = []): string[] {
  return c.json<{ mounts: Row[] }>(node, ["show", ...args]).mounts.map((r) => `${r.client} ${r.path} ${r.count}`).sort();
}

function journal(c: TestCluster, node: string): string {
  return join(c.control, "journals", `${node}.sqlite`);
}

describe("verify", () => {
  it("passes on sound journals and names the event that was altered or removed", () => {
    const c = started();
    for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) c.mountd("ds03", "mount", ip, "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "umount", "10.0.0.2", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["reconcile"]);
    const ok = c.run("ds03", ["verify", "--json"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, findings: [] });

    sql(journal(c, "ds03"), "UPDATE events SET count = 7 WHERE seq = 2");
    const r = c.run("ds03", ["verify"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/chain: .*ds03\.sqlite event 2: event 2 was altered/);

    // put it back, then drop the newest event: ds04 saw it, so that is a rollback
    sql(journal(c, "ds03"), "UPDATE events SET count = 1 WHERE seq = 2; DELETE FROM events WHERE seq = 4");
    const r2 = c.run("ds03", ["verify"]);
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(/rolled-back: .*ds03\.sqlite event 4: rolled back: node ds0[34] saw event 4 .*the journal now ends at event 3/);
  });

  it("reports a sequence gap that compaction did not leave", () => {
    const c = started();
    for (const ip of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) c.mountd("ds03", "mount", ip, "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "mount", "10.0.0.4", "/srv/vm0");
    c.ok("ds03", ["record"]);
    sql(journal(c, "ds03"), "DELETE FROM events WHERE seq = 2");
    const r = c.run("ds03", ["verify", "--json"]);
    expect(r.code).toBe(1);
    const findings = JSON.parse(r.stdout).findings as { check: string; seq: number; problem: string; file: string }[];
    expect(findings).toContainEqual(expect.objectContaining({ check: "chain", seq: 2, file: journal(c, "ds03"), problem: expect.stringMatching(/missing \(sequence gap/) }));
  });
});

describe("rollback and fork detection", () => {
  it("a journal restored from an older copy is seen as rolled back: reconcile goes add-only, verify fails", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const backup = join(c.root, "ds03-backup.sqlite");
    copyFileSync(journal(c, "ds03"), backup);
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.2", "/srv/vm0")]);
    // the old copy comes back (a restored backup, or the wrong side of a split-brain)
    copyFileSync(backup, journal(c, "ds03"));
    const r = c.json("ds04", ["reconcile"]);
    expect(r.addOnly).toBe(true);
    expect(r.problems).toContainEqual(expect.objectContaining({ file: journal(c, "ds03"), problem: expect.stringMatching(/^rolled back: this node \(ds04\) saw event 3 .*now ends at event 1/) }));
    // add-only: 10.0.0.2 stays although the old journal does not know it
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm0")].sort());
    // ds03 sees its own journal rolled back too (its marks live outside the control volume)
    const own = c.json("ds03", ["reconcile", "--dry-run"]);
    expect(own.problems.map((p: { problem: string }) => p.problem).join("\n")).toMatch(/rolled back: this node \(ds03\) saw event 3/);
    const v = c.run("ds04", ["verify"]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/rolled-back: .*ds03\.sqlite event 3: rolled back: node ds0[34] saw event 3/);
    // status is CRITICAL until resolved
    const st = c.run("ds04", ["status", "--json"]);
    expect(st.code).toBe(2);
    expect(JSON.parse(st.stdout).findings).toContainEqual(expect.objectContaining({ id: "journal-diverged", state: "CRITICAL" }));
  });
});

describe("split-brain recovery", () => {
  it("merges the victim's copy: both sides' changes survive, forks become branches, twice changes nothing", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    // DRBD split-brain: each node goes on with its own copy of the control volume
    const victim = join(c.root, "victim");
    cpSync(c.control, victim, { recursive: true });
    c.pointAt("ds04", victim);
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds04", "mount", "10.0.0.4", "/srv/vm1");
    c.mountd("ds04", "umount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    // resolution: ds03's side survives; ds04 comes back to it and sees its journal rolled back
    c.pointAt("ds04", c.control);
    const back = c.json("ds04", ["reconcile"]);
    expect(back.addOnly).toBe(true);
    expect(back.problems.map((p: { problem: string }) => p.problem).join("\n")).toMatch(/rolled back: this node \(ds04\)/);
    // and goes on recording on the survivor: its journal now forks from the victim's
    c.mountd("ds04", "mount", "10.0.0.5", "/srv/vm1");
    c.ok("ds04", ["record"]);
    // the victim's data, mounted read-only
    execFileSync("chmod", ["-R", "a-w", victim]);
    try {
      const dry = c.json("ds03", ["recover", "--from", victim, "--dry-run"]);
      expect(dry.merged).toBeGreaterThan(0);
      expect(readdirSync(join(c.control, "journals")).sort()).toEqual(["ds03.sqlite", "ds04.sqlite"]);
      const rec = c.json("ds03", ["recover", "--from", victim]);
      const acts = rec.actions.filter((a: { action: string }) => a.action !== "none");
      expect(dry.actions).toEqual(rec.actions);
      expect(acts).toEqual([expect.objectContaining({ action: "branch", node: "ds04", events: 2 })]);
      expect(readdirSync(join(c.control, "journals")).filter((f) => f.startsWith("ds04~"))).toHaveLength(1);
      const again = c.json("ds03", ["recover", "--from", victim]);
      expect(again.merged).toBe(0);
    } finally {
      execFileSync("chmod", ["-R", "u+w", victim]);
    }
    // the table is the fold of the union, as if the split never happened
    expect(table(c)).toEqual(["10.0.0.3 /srv/vm0 1", "10.0.0.4 /srv/vm1 1", "10.0.0.5 /srv/vm1 1"]);
    const v = c.run("ds03", ["verify"]);
    expect(v.stdout + v.stderr).toMatch(/all journals sound/);
    expect(v.code).toBe(0);
    // no node sees its own journal rolled back or forked any more
    for (const n of ["ds03", "ds04"]) {
      const r = c.json(n, ["reconcile"]);
      expect(r.problems).toEqual([]);
      expect(r.addOnly).toBe(false);
    }
    expect(c.lines("ds03")).toEqual(c.lines("ds04"));
    expect(c.lines("ds03")).toEqual([line("10.0.0.3", "/srv/vm0"), line("10.0.0.4", "/srv/vm1"), line("10.0.0.5", "/srv/vm1")].sort());
    expect(JSON.parse(c.run("ds04", ["status", "--json"]).stdout).findings.map((f: { id: string }) => f.id)).not.toContain("journal-diverged");
  });

  it("appends the missing tail of a journal that did not fork, keeping its chain", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    const victim = join(c.root, "victim");
    cpSync(c.control, victim, { recursive: true });
    c.pointAt("ds04", victim);
    c.mountd("ds04", "mount", "10.0.0.9", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.pointAt("ds04", c.control);
    const rec = c.json("ds03", ["recover", "--from", victim]);
    expect(rec.actions.filter((a: { action: string }) => a.action === "append")).toEqual([
      expect.objectContaining({ node: "ds04", events: 1, into: journal(c, "ds04") }),
    ]);
    expect(c.run("ds03", ["verify"]).code).toBe(0);
    expect(c.json("ds04", ["reconcile"]).problems).toEqual([]);
    expect(table(c)).toEqual(["10.0.0.2 /srv/vm1 1", "10.0.0.9 /srv/vm1 1"]);
  });

  it("refuses a copy of another cluster", () => {
    const c = started();
    const other = join(c.root, "other");
    cpSync(c.control, other, { recursive: true });
    writeFileSync(join(other, "rmtabsync.cluster"), JSON.stringify({ cluster: "elsewhere", format: 1 }));
    const r = c.run("ds03", ["recover", "--from", other]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/belongs to cluster "elsewhere"/);
  });
});

describe("forget", () => {
  it("removes a client's entries cluster-wide through journaled events", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.66", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.66", "/srv/vm0/images");
    c.mountd("ds04", "mount", "10.0.0.66", "/srv/vm1");
    c.mountd("ds04", "mount", "10.0.0.7", "/srv/vm1");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    const f = c.json("ds04", ["forget", "--client", "10.0.0.66", "--export", "vm0"]);
    expect(f.forgotten.map((e: Row) => `${e.op} ${e.path}`).sort()).toEqual(["forget /srv/vm0", "forget /srv/vm0/images"]);
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.66", "/srv/vm1"), line("10.0.0.7", "/srv/vm1")].sort());
    expect(c.lines("ds04")).toEqual(c.lines("ds03"));
    c.json("ds03", ["forget", "--client", "10.0.0.66"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.7", "/srv/vm1")]);
    const none = c.run("ds03", ["forget", "--client", "10.0.0.66"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no mount of client 10\.0\.0\.66 .*nothing to forget/);
    expect(c.json<{ events: Row[] }>("ds03", ["log", "--client", "10.0.0.66"]).events.filter((e) => e.op === "forget")).toHaveLength(3);
  });
  it("--dry-run lists exactly the rows the real run forgets, not the newest event", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.13", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.13", "/srv/vm0/a");
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds04", "mount", "10.9.9.99", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    const pick = (r: Row) => ({ node: r.node, op: r.op, client: r.client, path: r.path, count: r.count, export: r.export });
    const dry = c.json<{ dryRun: boolean; forgotten: Row[] }>("ds04", ["forget", "--client", "10.0.0.13", "--dry-run"]);
    const text = c.ok("ds04", ["forget", "--client", "10.0.0.13", "--dry-run"]).stdout;
    const real = c.json<{ forgotten: Row[] }>("ds04", ["forget", "--client", "10.0.0.13"]);
    expect(dry.dryRun).toBe(true);
    expect(real.forgotten.map(pick)).toHaveLength(2);
    expect(dry.forgotten.map(pick)).toEqual(real.forgotten.map(pick));
    expect(text).toBe("would forget 10.0.0.13 /srv/vm0 (vm0)\nwould forget 10.0.0.13 /srv/vm0/a (vm0)\n");
  });
});

describe("compact", () => {
  it("drops superseded events, keeps the table and the chain, and prints sizes", () => {
    const c = started();
    for (let i = 0; i < 30; i++) {
      c.mountd("ds03", "mount", `10.1.0.${i}`, "/srv/vm0");
      if (i % 3 === 0) c.mountd("ds03", "mount", `10.1.0.${i}`, "/srv/vm0");
    }
    c.ok("ds03", ["record"]);
    for (let i = 0; i < 30; i += 2) c.mountd("ds03", "umount", `10.1.0.${i}`, "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["reconcile"]);
    const before = table(c);
    const r = c.json("ds03", ["compact", "--keep", "0s"]);
    expect(r.dropped).toBeGreaterThan(0);
    expect(r.after.events).toBe(r.before.events - r.dropped);
    expect(r.after.bytes).toBeLessThanOrEqual(r.before.bytes);
    expect(table(c)).toEqual(before);
    expect(c.run("ds04", ["verify"]).code).toBe(0);
    expect(c.json("ds04", ["reconcile"]).problems).toEqual([]);
    expect(c.lines("ds04")).toEqual(before.filter((l) => l.includes("/srv/vm0")).map((l) => line(l.split(" ")[0]!, "/srv/vm0", Number(l.split(" ")[2]))).sort());
    const past = c.run("ds04", ["show", "--at", "1h"]);
    expect(past.stderr).toMatch(/history before .* was compacted in .*ds03\.sqlite: the table at .* may be incomplete/);
    const text = c.ok("ds03", ["compact", "--keep", "30d"]).stdout;
    expect(text).toMatch(/dropped 0 of \d+ events older than .*; size [\d.]+ KiB -> [\d.]+ KiB/);
  });

  it("retires the umounts of clients that are gone: 3000 mounts, 3000 umounts, compact leaves a handful of events and the same table", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0"); // one client that stays
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1"); // and one whose mount lives in the peer's journal
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["record"]);
    const base = c.rmtab("ds03");
    const churn = Array.from({ length: 3000 }, (_, i) => `10.2.${i >> 8}.${i & 255}:/srv/vm0:0x00000001\n`).join("");
    c.writeRmtab("ds03", base + churn);
    c.ok("ds03", ["record"]);
    c.writeRmtab("ds03", base);
    c.ok("ds03", ["record"]);
    // ds03 unmounts ds04's client after vm1 moved there: that umount must stay while ds04's mount survives
    c.etab("ds03", ["/srv/vm0", "/srv/vm1"]);
    c.ok("ds03", ["reconcile", "--hosting", "vm1"]);
    c.mountd("ds03", "umount", "10.0.0.2", "/srv/vm1");
    c.ok("ds03", ["record"]);
    const before = table(c);
    const events = () => c.json<{ events: Row[] }>("ds03", ["log", "--origin", "ds03"]).events;
    const r = c.json("ds03", ["compact", "--keep", "0s"]);
    expect(r.before.events).toBeGreaterThanOrEqual(6002);
    expect(r.after.events).toBeLessThan(10);
    expect(table(c)).toEqual(before);
    expect(before).toEqual(["10.0.0.1 /srv/vm0 1"]);
    const left = events().map((e) => `${e.op} ${e.client}`);
    expect(left).toContain("mount 10.0.0.1");
    expect(left).toContain("umount 10.0.0.2"); // ds04's older mount survives
    expect(left.filter((e) => e.includes("10.2."))).toEqual([]);
    expect(c.run("ds04", ["verify"]).code).toBe(0);
    const rec = c.json("ds04", ["reconcile"]);
    expect(rec.problems).toEqual([]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", "/srv/vm0")]);
    // once ds04 compacts its superseded mount away (no longer its newest event), ds03's umount of it retires too
    c.mountd("ds04", "mount", "10.0.0.4", "/srv/vm1");
    c.ok("ds04", ["record"]);
    expect(c.json("ds04", ["compact", "--keep", "0s"]).dropped).toBe(1);
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0"); // a new tip, so the umount is not the journal's newest event
    c.ok("ds03", ["record"]);
    c.json("ds03", ["compact", "--keep", "0s"]);
    expect(events().map((e) => `${e.op} ${e.client}`)).not.toContain("umount 10.0.0.2");
    expect(table(c)).toEqual(["10.0.0.1 /srv/vm0 1", "10.0.0.3 /srv/vm0 1", "10.0.0.4 /srv/vm1 1"]);
  });

  it("never drops an umount while an older mount of the same entry survives in another journal", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    // vm0 moves to ds04, the client unmounts there, then mounts and unmounts again
    c.etab("ds03", []);
    c.etab("ds04", ["/srv/vm1", "/srv/vm0"]);
    c.ok("ds04", ["reconcile"]);
    c.mountd("ds04", "umount", "10.0.0.1", "/srv/vm0");
    c.ok("ds04", ["record"]);
    c.mountd("ds04", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds04", ["record"]);
    c.mountd("ds04", "umount", "10.0.0.1", "/srv/vm0");
    c.ok("ds04", ["record"]);
    const r = c.json("ds04", ["compact", "--keep", "0s"]);
    // the mount in between goes; the first umount stays because ds03's older mount survives
    expect(r.dropped).toBe(1);
    const ops = c.json<{ events: Row[] }>("ds04", ["log", "--origin", "ds04"]).events.map((e) => `${e.op}`);
    expect(ops).toEqual(["umount", "umount"]);
    expect(table(c)).toEqual([]);
  });
});

describe("damaged journals", () => {
  function damaged(make: (c: TestCluster, file: string) => void): { c: TestCluster; file: string } {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    const file = journal(c, "ds04");
    make(c, file);
    return { c, file };
  }

  const cases: [string, (c: TestCluster, file: string) => void, RegExp][] = [
    ["a truncated journal", (_c, f) => truncateSync(f, 1000), /database is corrupt|not an SQLite database|disk image is malformed/],
    ["a file of garbage", (_c, f) => writeFileSync(f, Buffer.alloc(8192, 0x5a)), /not an SQLite database/],
    ["a text file", (_c, f) => writeFileSync(f, "hello, I am not a journal\n"), /not an SQLite database/],
    ["an empty file", (_c, f) => writeFileSync(f, ""), /not an rmtabsync journal \(no meta table\)/],
    ["a journal from a newer schema", (_c, f) => sql(f, "PRAGMA user_version = 99"), /schema version 99 is newer than this rmtabsync understands \(1\): upgrade rmtabsync/],
    ["a journal of another cluster", (_c, f) => sql(f, "UPDATE meta SET value = 'elsewhere' WHERE key = 'cluster'"), /belongs to cluster "elsewhere", not "test"/],
    ["a journal whose node does not match its file name", (_c, f) => sql(f, "UPDATE meta SET value = 'ds05' WHERE key = 'node'"), /records node "ds05" but its file name says "ds04"/],
    ["an SQLite file that is not a journal", (_c, f) => { rmSync(f); sql(f, "CREATE TABLE t (x)"); }, /not an rmtabsync journal \(no meta table\)/],
  ];

  for (const [name, make, message] of cases) {
    it(`${name}: one clear message naming the file; reconcile goes on add-only; show still works`, () => {
      const { c, file } = damaged(make);
      c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
      const r = c.run("ds03", ["reconcile", "--json"]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.addOnly).toBe(true);
      const mine = out.problems.filter((p: { file: string }) => p.file === file);
      expect(mine).toHaveLength(1);
      expect(mine[0].problem).toMatch(message);
      expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm0")].sort());
      const s = c.run("ds03", ["show"]);
      expect(s.code).toBe(0);
      expect(s.stderr).toContain(file);
      expect(s.stdout).toMatch(/10\.0\.0\.3/);
      const v = c.run("ds03", ["verify"]);
      expect(v.code).toBe(1);
      expect(v.stdout).toContain(file);
    });
  }

  it("a crash-left rollback journal on a read-only copy: show and log read it, verify reports it sound", () => {
    const { c } = damaged(() => undefined);
    const copy = join(c.root, "copy");
    cpSync(c.control, copy, { recursive: true });
    const db = join(copy, "journals", "ds04.sqlite");
    execFileSync(python3(), [
      "-c",
      `import sqlite3, os\ncon = sqlite3.connect(${JSON.stringify(db)}, isolation_level=None)\ncon.execute("BEGIN IMMEDIATE")\ncon.execute("UPDATE events SET count = 99")\ncon.execute("PRAGMA cache_size=1")\n[con.execute("INSERT INTO meta VALUES (?, ?)", ("k%d" % i, "v"*2000)) for i in range(200)]\nos._exit(0)`,
    ]);
    execFileSync("chmod", ["-R", "a-w", copy]);
    try {
      expect(table(c, "ds03", ["--control-dir", copy])).toEqual(["10.0.0.1 /srv/vm0 1", "10.0.0.2 /srv/vm1 1"]);
      expect(c.json("ds03", ["log", "--control-dir", copy]).events.length).toBeGreaterThan(0);
      expect(c.run("ds03", ["verify", "--control-dir", copy]).code).toBe(0);
      expect(readFileSync(`${db}-journal`).length).toBeGreaterThan(0);
    } finally {
      execFileSync("chmod", ["-R", "u+w", copy]);
    }
    renameSync(copy, `${copy}.done`);
  });
});
