// Multi-node scenarios: separate state directories, one control directory,
// the real CLI, real SQLite journals.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLI, line, TestCluster, started } from "./helpers/cluster.js";

type Row = { client: string; path: string; count: number; export: string | null; node: string; time: string; logical: number; op?: string };

function table(c: TestCluster, node = c.nodes[0]!, args: string[] = []): string[] {
  return (c.json<{ mounts: Row[] }>(node, ["show", ...args]).mounts).map((r) => `${r.client} ${r.path} ${r.count}`).sort();
}

describe("failover between two nodes", () => {
  it("the node taking an export over gets its clients; an umount there reaches the old node", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0/images");
    c.mountd("ds03", "mount", "10.0.0.22", "/srv/vm0/images");
    c.mountd("ds03", "mount", "2001:db8::5", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.21", "/srv/vm1");
    const rec = c.json("ds03", ["record"]);
    expect(rec.first).toBe(true);
    expect(rec.recorded.map((e: Row) => `${e.op} ${e.client} ${e.path} ${e.count} ${e.export} ${e.node}`).sort()).toEqual([
      "mount 10.0.0.21 /srv/vm0 1 vm0 ds03",
      "mount 10.0.0.22 /srv/vm0/images 2 vm0 ds03",
      "mount 2001:db8::5 /srv/vm0 1 vm0 ds03",
    ]);
    c.ok("ds04", ["record"]);

    // vm0 fails over: ds03 no longer exports it, ds04 does; Pacemaker runs reconcile on ds04.
    c.etab("ds03", []);
    c.etab("ds04", ["/srv/vm1", "/srv/vm0"]);
    const rc = c.json("ds04", ["reconcile"]);
    expect(rc.written).toBe(true);
    expect(rc.addOnly).toBe(false);
    expect(c.lines("ds04")).toEqual(
      [line("10.0.0.21", "/srv/vm0"), line("10.0.0.22", "/srv/vm0/images", 2), line("2001:db8::5", "/srv/vm0"), line("10.0.0.21", "/srv/vm1")].sort(),
    );
    // what reconcile wrote is never recorded as a local mount
    expect(c.json("ds04", ["record"]).recorded).toEqual([]);

    // clients unmount through ds04
    c.mountd("ds04", "umount", "10.0.0.22", "/srv/vm0/images");
    c.mountd("ds04", "umount", "2001:db8::5", "/srv/vm0");
    const r2 = c.json("ds04", ["record"]);
    expect(r2.recorded.map((e: Row) => `${e.op} ${e.client} ${e.count}`).sort()).toEqual(["count 10.0.0.22 1", "umount 2001:db8::5 0"]);

    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm0"), line("10.0.0.22", "/srv/vm0/images", 1), line("10.0.0.21", "/srv/vm1")].sort());
    expect(table(c)).toEqual(["10.0.0.21 /srv/vm0 1", "10.0.0.21 /srv/vm1 1", "10.0.0.22 /srv/vm0/images 1"]);

    // failback: vm0 returns to ds03; a client mounted via ds04 unmounts via ds03
    c.etab("ds04", ["/srv/vm1"]);
    c.etab("ds03", ["/srv/vm0"]);
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds03", "umount", "10.0.0.22", "/srv/vm0/images");
    c.mountd("ds03", "mount", "10.0.0.30", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.21", "/srv/vm0"), line("10.0.0.30", "/srv/vm0"), line("10.0.0.21", "/srv/vm1")].sort());
    expect(c.lines("ds03")).toEqual(c.lines("ds04"));
  });

  it("an UMNTALL that drops lines of an export this node does not host is not an umount: reconcile restores them", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.21", "/srv/vm1");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toHaveLength(2);
    // the client reboots and sends UMNTALL to ds04's address: mountd drops both its lines on ds04
    c.mountd("ds04", "umountall", "10.0.0.21");
    expect(c.lines("ds04")).toEqual([]);
    const r = c.json("ds04", ["record"]);
    expect(r.recorded.map((e: Row) => `${e.op} ${e.path}`)).toEqual(["umount /srv/vm1"]);
    expect(r.ignored.map((i: Row) => i.path)).toEqual(["/srv/vm0"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.21", "/srv/vm0")]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm0")]);
  });
});

describe("takeover after an UMNTALL", () => {
  it("lines an UMNTALL dropped while the export lived elsewhere are restored at takeover, not journaled as umounts", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.21", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm1")]);
    // the client reboots and sends UMNTALL to ds03, which does not export vm1
    c.mountd("ds03", "umountall", "10.0.0.21");
    // vm1 fails over to ds03 before anything recorded there
    c.etab("ds04", []);
    c.etab("ds03", ["/srv/vm0", "/srv/vm1"]);
    const r = c.json("ds03", ["reconcile"]);
    expect(r.recorded).toEqual([]);
    expect(r.ignored.map((i: Row) => i.path)).toEqual(["/srv/vm1"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm1")]);
    // from now on vm1 is ds03's: a real umount there is journaled
    c.mountd("ds03", "umount", "10.0.0.21", "/srv/vm1");
    expect(c.json("ds03", ["record"]).recorded.map((e: Row) => e.op)).toEqual(["umount"]);
    expect(table(c)).toEqual([]);
  });
});

describe("three nodes, an export only some may host", () => {
  it("a node never gets lines of an export it may not host, and loses stale ones", () => {
    const c = new TestCluster(
      ["ds03", "ds04", "ds05"],
      [
        { name: "vm0", path: "/srv/vm0" },
        { name: "vm1", path: "/srv/vm1", nodes: ["ds04", "ds05"] },
      ],
    );
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    c.etab("ds05", []);
    // stale vm1 lines on ds03 from before rmtabsync; an unmanaged line that must stay untouched
    c.writeRmtab("ds03", "10.0.0.99:/srv/vm1:0x00000001\n10.0.0.50:/home:1\n");
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1/sub");
    for (const n of c.nodes) c.ok(n, ["record"]);
    for (const n of c.nodes) c.ok(n, ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.50", "/home")].sort());
    expect(c.lines("ds05")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm1/sub")].sort());
    // ds03's stale line was never journaled as a mount
    expect(table(c, "ds05", ["--export", "vm1"])).toEqual(["10.0.0.2 /srv/vm1 1", "10.0.0.3 /srv/vm1/sub 1"]);
    // vm1 moves to ds05; an umount there reaches ds04
    c.etab("ds04", []);
    c.ok("ds05", ["reconcile", "--hosting", "vm1"]); // the Pacemaker agent's start, before exportfs
    c.etab("ds05", ["/srv/vm1"]);
    c.mountd("ds05", "umount", "10.0.0.3", "/srv/vm1/sub");
    c.ok("ds05", ["record"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1")].sort());
  });
});

describe("clock skew", () => {
  function faketime(c: TestCluster, node: string, offset: string, args: string[]): void {
    execFileSync("faketime", ["-f", offset, process.execPath, CLI, "-c", c.configFile(node), "-n", node, ...args], { stdio: "pipe" });
  }

  // within the accepted skew (maxClockSkew), the hybrid logical clock orders events as they happened
  function skewed(): TestCluster {
    const c = started();
    c.extraConfig = "maxClockSkew: 15m\n";
    c.writeConfigs();
    return c;
  }

  it("an umount on the node that took over beats a mount recorded by a node whose clock runs 10 minutes ahead", () => {
    const c = skewed();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    faketime(c, "ds03", "+10m", ["record"]);
    c.etab("ds03", []);
    c.etab("ds04", ["/srv/vm1", "/srv/vm0"]);
    c.ok("ds04", ["reconcile"]);
    c.mountd("ds04", "umount", "10.0.0.21", "/srv/vm0");
    c.ok("ds04", ["record"]);
    expect(table(c)).toEqual([]);
    const log = c.json<{ events: Row[] }>("ds04", ["log"]).events;
    expect(log.map((e) => `${e.node} ${e.op}`)).toEqual(["ds03 mount", "ds04 umount"]);
    faketime(c, "ds03", "+10m", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([]);
  });

  it("a node whose clock is 10 minutes behind still orders its umount after what it has seen", () => {
    const c = skewed();
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.etab("ds03", []);
    c.etab("ds04", ["/srv/vm1", "/srv/vm0"]);
    faketime(c, "ds04", "-10m", ["reconcile"]);
    c.mountd("ds04", "umount", "10.0.0.21", "/srv/vm0");
    faketime(c, "ds04", "-10m", ["record"]);
    c.mountd("ds04", "mount", "10.0.0.21", "/srv/vm0");
    faketime(c, "ds04", "-10m", ["record"]);
    expect(table(c)).toEqual(["10.0.0.21 /srv/vm0 1"]);
    c.mountd("ds04", "umount", "10.0.0.21", "/srv/vm0");
    faketime(c, "ds04", "-10m", ["record"]);
    expect(table(c)).toEqual([]);
  });
});

describe("safety", () => {
  it("refuses (exit 3) without writing when the control volume marker is missing or names another cluster", () => {
    const c = started();
    c.writeRmtab("ds03", "10.0.0.1:/srv/vm0:0x00000001\n");
    const marker = join(c.control, "rmtabsync.cluster");
    renameSync(marker, `${marker}.away`);
    const r = c.run("ds03", ["reconcile"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/marker .*rmtabsync\.cluster is missing: is the control volume mounted/);
    expect(c.rmtab("ds03")).toBe("10.0.0.1:/srv/vm0:0x00000001\n");
    writeFileSync(marker, JSON.stringify({ cluster: "other", format: 1 }));
    const r2 = c.run("ds03", ["reconcile"]);
    expect(r2.code).toBe(3);
    expect(r2.stderr).toMatch(/belongs to cluster "other", not "test"/);
    expect(c.run("ds03", ["record"]).code).toBe(3);
    expect(c.rmtab("ds03")).toBe("10.0.0.1:/srv/vm0:0x00000001\n");
  });

  it("an unreadable peer journal puts reconcile in add-only mode and names it", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["reconcile"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1")]);
    // ds03's table also knows a line that the (now broken) ds04 journal would remove
    c.mountd("ds04", "umount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const j = join(c.control, "journals", "ds04.sqlite");
    const saved = readFileSync(j);
    writeFileSync(j, "this is not a database, just garbage bytes ".repeat(200));
    c.mountd("ds03", "mount", "10.0.0.3", "/srv/vm0");
    const r = c.run("ds03", ["reconcile", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.addOnly).toBe(true);
    expect(out.problems[0].file).toBe(j);
    expect(out.problems[0].problem).toMatch(/not an SQLite database/);
    expect(r.stderr).toMatch(/add-only mode, no entry was removed: .*ds04\.sqlite \(unreadable\)/);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm1"), line("10.0.0.3", "/srv/vm0")].sort());
    // restored journal: the umount applies again
    writeFileSync(j, saved);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.3", "/srv/vm0")].sort());
  });

  it("a configured node without a journal means add-only", () => {
    const c = new TestCluster();
    c.ok("ds03", ["init"]);
    c.etab("ds03", ["/srv/vm0"]);
    c.writeRmtab("ds03", "10.0.0.7:/srv/vm1:0x00000001\n");
    const out = c.json("ds03", ["reconcile"]);
    expect(out.addOnly).toBe(true);
    expect(out.problems[0].problem).toMatch(/no journal for configured node ds04/);
    expect(c.lines("ds03")).toEqual([line("10.0.0.7", "/srv/vm1")]);
  });

  it("quarantines malformed lines verbatim, reports their line numbers, and keeps the lines after them", () => {
    const c = started();
    c.writeRmtab("ds03", "10.0.0.1:/srv/vm0:0x00000001\nnot-an-entry\n10.0.0.2:/srv/vm0:2\n");
    const out = c.json("ds03", ["reconcile"]);
    expect(out.quarantined).toEqual([{ line: 2, text: "not-an-entry", problem: expect.stringMatching(/no ':'/) }]);
    expect(c.rmtab("ds03")).toBe("10.0.0.1:/srv/vm0:0x00000001\n10.0.0.2:/srv/vm0:0x00000002\n");
    const q = readFileSync(join(c.stateDir("ds03"), "rmtab.quarantine"), "utf8");
    expect(q).toMatch(/# .* removed from .*rmtab line 2: no ':'/);
    expect(q.split("\n")).toContain("not-an-entry");
    // a second run finds nothing to do
    expect(c.json("ds03", ["reconcile"]).written).toBe(false);
  });

  it("a client address with a leading space is quarantined, never journaled cluster-wide", () => {
    const c = started();
    c.writeRmtab("ds03", " 10.0.0.100:/srv/vm0:0x00000001\n10.0.0.1:/srv/vm0:0x00000001\n");
    const out = c.json("ds03", ["reconcile"]);
    expect(out.quarantined).toEqual([{ line: 1, text: " 10.0.0.100:/srv/vm0:0x00000001", problem: expect.stringMatching(/white space/) }]);
    expect(c.json<{ mounts: Row[] }>("ds04", ["show"]).mounts.map((m) => m.client)).toEqual(["10.0.0.1"]);
    expect(c.rmtab("ds03")).toBe("10.0.0.1:/srv/vm0:0x00000001\n");
  });

  it("--dry-run prints the change and writes nothing", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    const before = c.rmtab("ds03");
    const journal = readFileSync(join(c.control, "journals", "ds03.sqlite"));
    const out = c.json("ds03", ["reconcile", "--dry-run"]);
    expect(out.dryRun).toBe(true);
    expect(out.recorded.map((e: Row) => e.client)).toEqual(["10.0.0.1"]);
    expect(out.added.map((e: Row) => e.client)).toEqual(["10.0.0.2"]);
    expect(out.written).toBe(false);
    expect(c.rmtab("ds03")).toBe(before);
    expect(readFileSync(join(c.control, "journals", "ds03.sqlite")).equals(journal)).toBe(true);
    const text = c.ok("ds03", ["reconcile", "--dry-run"]).stdout;
    expect(text).toMatch(/would add {5}10\.0\.0\.2 \/srv\/vm1 count 1 \(vm1\)/);
  });

  it("--dry-run previews exactly what the real run does, quarantine included", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.writeRmtab("ds03", `${c.rmtab("ds03")}not-an-entry\n`);
    c.mountd("ds04", "umount", "10.0.0.2", "/srv/vm1");
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const keys = ["recorded", "added", "removed", "changed", "heldBack", "quarantined", "entries"] as const;
    const pick = (o: Record<string, unknown>) => JSON.parse(JSON.stringify(keys.map((k) => o[k]), (k, v) => (k === "time" || k === "logical" ? undefined : v)));
    const dry = c.json("ds03", ["reconcile", "--dry-run"]);
    expect(c.ok("ds03", ["reconcile", "--dry-run"]).stdout).toMatch(/would quarantine rmtab line 3 /);
    const real = c.json("ds03", ["reconcile"]);
    expect(real.quarantined).toHaveLength(1);
    expect(real.added).toHaveLength(1);
    expect(real.removed).toHaveLength(1);
    expect(pick(dry)).toEqual(pick(real));
  });

  it("writes nothing when rmtab is already right, and moves mtime to a later second when it writes", () => {
    const c = started();
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    const f = join(c.stateDir("ds03"), "rmtab");
    const m0 = statSync(f).mtimeMs;
    c.ok("ds03", ["reconcile"]);
    const m1 = statSync(f).mtimeMs;
    expect(Math.floor(m1 / 1000)).toBeGreaterThan(Math.floor(m0 / 1000));
    const ino = statSync(f).ino;
    expect(c.json("ds03", ["reconcile"]).written).toBe(false);
    expect(statSync(f).ino).toBe(ino);
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(Math.floor(statSync(f).mtimeMs / 1000)).toBeGreaterThan(Math.floor(m1 / 1000));
  });

  it("follows a symlinked rmtab like mountd and replaces its target", () => {
    const c = started();
    const real = join(c.root, "real-rmtab");
    writeFileSync(real, "10.0.0.1:/srv/vm0:0x00000001\n");
    symlinkSync(real, join(c.stateDir("ds03"), "rmtab"));
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(readFileSync(real, "utf8")).toBe("10.0.0.1:/srv/vm0:0x00000001\n10.0.0.2:/srv/vm1:0x00000001\n");
    expect(statSync(join(c.stateDir("ds03"), "rmtab")).isFile()).toBe(true);
  });
});

describe("offline inspection", () => {
  it("show and log work on a read-only copy of the control volume and show --at goes back in time", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const t1 = new Date().toISOString();
    execFileSync("sleep", ["0.05"]);
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const copy = join(c.root, "copy");
    execFileSync("cp", ["-a", c.control, copy]);
    execFileSync("chmod", ["-R", "a-w", copy]);
    rmSync(c.stateDir("ds03"), { recursive: true });
    try {
      expect(table(c, "ds03", ["--control-dir", copy])).toEqual(["10.0.0.2 /srv/vm0 1"]);
      expect(table(c, "ds03", ["--control-dir", copy, "--at", t1])).toEqual(["10.0.0.1 /srv/vm0 1"]);
      const ev = c.json<{ events: Row[] }>("ds03", ["log", "--control-dir", copy, "--client", "10.0.0.1"]).events;
      expect(ev.map((e) => e.op)).toEqual(["mount", "umount"]);
      expect(ev[0]).toMatchObject({ client: "10.0.0.1", path: "/srv/vm0", count: 1, export: "vm0", node: "ds03", op: "mount" });
      expect(c.json<{ events: Row[] }>("ds03", ["log", "--control-dir", copy, "--since", t1]).events).toHaveLength(2);
      expect(c.json<{ events: Row[] }>("ds03", ["log", "--control-dir", copy, "--until", t1]).events).toHaveLength(1);
      expect(c.json<{ events: Row[] }>("ds03", ["log", "--control-dir", copy, "--origin", "ds04"]).events).toHaveLength(0);
      expect(existsSync(join(copy, "journals", "ds03.sqlite-journal"))).toBe(false);
    } finally {
      execFileSync("chmod", ["-R", "u+w", copy]);
    }
  });

  it("reads a read-only copy that holds a crash-left rollback journal", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const copy = join(c.root, "copy");
    execFileSync("cp", ["-a", c.control, copy]);
    // leave a hot journal: a writer killed in the middle of a transaction
    const db = join(copy, "journals", "ds03.sqlite");
    execFileSync("python3", [
      "-c",
      `import sqlite3, os\ncon = sqlite3.connect(${JSON.stringify(db)}, isolation_level=None)\ncon.execute("PRAGMA journal_mode=DELETE")\ncon.execute("BEGIN IMMEDIATE")\ncon.execute("UPDATE events SET count = 99")\ncon.execute("INSERT INTO meta VALUES ('junk', 'x')")\ncon.execute("PRAGMA cache_size=1")\n[con.execute("INSERT INTO meta VALUES (?, ?)", ("k%d" % i, "v"*2000)) for i in range(200)]\nos._exit(0)`,
    ]);
    expect(statSync(`${db}-journal`).size).toBeGreaterThan(0);
    execFileSync("chmod", ["-R", "a-w", copy]);
    try {
      expect(table(c, "ds03", ["--control-dir", copy])).toEqual(["10.0.0.1 /srv/vm0 1"]);
    } finally {
      execFileSync("chmod", ["-R", "u+w", copy]);
    }
  });
});

describe("times in and out", () => {
  it("JSON times are ISO 8601 with a separate integer logical, and read back by --at, --since and --until", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const events = c.json<{ events: Row[] }>("ds03", ["log"]).events;
    const mounts = c.json<{ mounts: Row[] }>("ds03", ["show"]).mounts;
    expect(events.length).toBe(2);
    for (const r of [...events, ...mounts]) {
      expect(r.time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      expect(new Date(r.time).toISOString()).toBe(r.time);
      expect(Number.isInteger(r.logical)).toBe(true);
    }
    const last = events[events.length - 1]!;
    expect(c.json<{ mounts: Row[] }>("ds03", ["show", "--at", last.time]).mounts).toHaveLength(2);
    expect(c.json<{ events: Row[] }>("ds03", ["log", "--since", last.time, "--until", last.time]).events.length).toBeGreaterThan(0);
    // the text table's form, with the logical counter after the Z, reads back too
    const text = c.ok("ds03", ["log"]).stdout;
    const printed = /(\S+Z(?:\+\d+)?)\s+ds03/.exec(text.split("\n")[2]!)![1]!;
    expect(c.run("ds03", ["show", "--at", printed]).code).toBe(0);
  });

  it("names bad times, an inverted range and an unknown origin instead of printing nothing", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const at = c.run("ds03", ["show", "--at", "2026-02-31"]);
    expect(at.code).toBe(2);
    expect(at.stderr).toMatch(/--at: "2026-02-31" is not a date/);
    const local = c.run("ds03", ["log", "--since", "2026-11-25T10:00:00"]);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/--since: .* has no UTC offset: add Z/);
    const inv = c.run("ds03", ["log", "--since", "1m", "--until", "2h"]);
    expect(inv.code).toBe(2);
    expect(inv.stderr).toMatch(/--since 1m \(.*\) is after --until 2h \(.*\): the range is inverted/);
    const who = c.run("ds03", ["log", "--origin", "nobody"]);
    expect(who.code).toBe(2);
    expect(who.stderr).toMatch(/--origin: no node "nobody" .*\(ds03, ds04\)/);
    expect(c.json<{ events: Row[] }>("ds03", ["log", "--origin", "ds04"]).events).toEqual([]);
  });
});

describe("command line", () => {
  it("accepts -c and -n after the command name and reads RMTABSYNC_CONFIG / RMTABSYNC_NODE", () => {
    const c = started();
    const r = c.run("ds03", ["show"]);
    expect(r.code).toBe(0);
    const after = spawnSync(process.execPath, [CLI, "show", "--json", "-c", c.configFile("ds03"), "-n", "ds03"], { encoding: "utf8" });
    expect(after.status).toBe(0);
    expect(JSON.parse(after.stdout).mounts).toEqual([]);
    const env = spawnSync(process.execPath, [CLI, "record", "--json"], {
      encoding: "utf8",
      env: { ...process.env, RMTABSYNC_CONFIG: c.configFile("ds03"), RMTABSYNC_NODE: "ds03" },
    });
    expect(env.status).toBe(0);
    expect(JSON.parse(env.stdout).node).toBe("ds03");
  });

  it("without a command: the usage on stderr, exit 2", () => {
    const r = spawnSync(process.execPath, [CLI], { encoding: "utf8" });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^Usage: rmtabsync /);
    expect(spawnSync(process.execPath, [CLI, "--help"], { encoding: "utf8" }).status).toBe(0);
  });

  it("a control directory without journals is named in plain words by show, log, verify and metrics (exit 1)", () => {
    const c = new TestCluster();
    const dir = join(c.control, "journals");
    for (const cmd of ["show", "log", "verify", "metrics"]) {
      const r = c.run("ds03", [cmd]);
      expect([cmd, r.code]).toEqual([cmd, 1]);
      expect(r.stderr).toBe(`rmtabsync: journals directory ${dir} does not exist: is the control volume mounted (and 'rmtabsync init' run on it)?\n`);
    }
    const other = c.run("ds03", ["log", "--control-dir", join(c.root, "nowhere")]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`journals directory ${join(c.root, "nowhere", "journals")} does not exist`);
    expect(other.stderr).not.toMatch(/ENOENT|scandir/);
  });

  it("config errors name the file, the key, expected and found, and exit 2", () => {
    const c = started();
    const bad = join(c.root, "bad.yaml");
    writeFileSync(bad, "cluster: x\ncontrolDir: relative/dir\nnodes: [ds03]\nexports:\n  - name: vm0\n    path: /srv/vm0\n    nodes: [ds09]\n");
    const r = c.run("ds03", ["show", "-c", bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid configuration ${bad}`);
    expect(r.stderr).toContain('controlDir: expected an absolute path without \':\' or newlines, found "relative/dir"');
    expect(r.stderr).toContain('exports[0].nodes[0]: expected one of the configured nodes (ds03), found "ds09"');
    writeFileSync(bad, "cluster: [unclosed\n");
    const r2 = c.run("ds03", ["show", "-c", bad]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/invalid configuration .*bad\.yaml:\n  line \d+: /);
    const r3 = c.run("ds03", ["record", "-n", "ds09"]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/node "ds09" \(from --node\) is not in the nodes of/);
    const r4 = c.run("ds03", ["reconcile", "--lock-timeout", "soon"]);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toMatch(/--lock-timeout: expected a number of seconds/);
  });

  it("init is idempotent", () => {
    const c = new TestCluster();
    const first = c.json("ds03", ["init"]);
    // marker, journals/, the node's record of the volume (in its stateDir), its journal
    expect(first.created).toHaveLength(4);
    expect(first.created).toContain(join(c.stateDir("ds03"), "rmtabsync.volume"));
    const again = c.json("ds03", ["init"]);
    expect(again.created).toEqual([]);
    expect(again.journalId).toBe(first.journalId);
    expect(again.markerId).toBe(first.markerId);
  });
});
