// rmtabsync status: health of one node, monitoring-plugin exit codes.
// The scenarios run the real CLI against a TestCluster; the checks also run
// as pure functions with a case that fires and a close case that does not.
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CHECKS, evaluateStatus, type StatusFacts } from "../src/core/status.js";
import { SIM, TestCluster } from "./helpers/cluster.js";

type Status = {
  state: string;
  code: number;
  findings: { id: string; state: string; message: string }[];
  journals: { node: string; own: boolean; present: boolean; readable: boolean; events: number | null; lastEvent: { op: string; client: string } | null }[];
  rmtab: { checked: boolean; matches?: boolean; add?: number; remove?: number; addOnly?: boolean; error?: string } | null;
  lastReconcile: string | null;
  lastRecord: string | null;
  quarantined: number;
  exportHosted: boolean | null;
  controlVolume: { marker: string };
};

function status(c: TestCluster, node: string, args: string[] = []): { code: number; json: Status; stderr: string } {
  const r = c.run(node, ["status", "--json", ...args]);
  return { code: r.code, json: JSON.parse(r.stdout) as Status, stderr: r.stderr };
}

const ids = (s: Status) => s.findings.map((f) => f.id).sort();

function healthy(): TestCluster {
  const c = new TestCluster();
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.etab("ds04", ["/srv/vm1"]);
  c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
  c.mountd("ds04", "mount", "10.0.0.22", "/srv/vm1");
  c.ok("ds03", ["record"]);
  c.ok("ds04", ["reconcile"]);
  c.ok("ds03", ["reconcile"]);
  return c;
}

/** Every file under root with its size, mtime and content hash. */
function snapshot(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else {
        const st = statSync(p);
        out.set(p, `${st.size} ${st.mtimeMs} ${createHash("sha256").update(readFileSync(p)).digest("hex")}`);
      }
    }
  };
  walk(root);
  return out;
}

const holders: ChildProcess[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) h.kill("SIGKILL");
});

function holdLock(stateDir: string, seconds: number): Promise<ChildProcess> {
  const child = spawn("python3", [SIM, stateDir, "hold", String(seconds)], { stdio: ["ignore", "pipe", "inherit"] });
  holders.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("locked")) resolve(child);
    });
    child.on("exit", (code) => reject(new Error(`lock holder exited ${code} before locking`)));
  });
}

describe("rmtabsync status on a cluster", () => {
  it("a healthy node is OK (exit 0): journals, last record and reconcile, rmtab matches", () => {
    const c = healthy();
    const s = status(c, "ds03");
    expect(s.code).toBe(0);
    expect(s.json.state).toBe("OK");
    expect(s.json.findings).toEqual([]);
    expect(s.json.controlVolume.marker).toBe("ok");
    expect(s.json.journals.map((j) => `${j.node} ${j.own} ${j.readable} ${j.events}`)).toEqual(["ds03 true true 1", "ds04 false true 1"]);
    expect(s.json.journals[1]!.lastEvent).toMatchObject({ op: "mount", client: "10.0.0.22" });
    expect(s.json.lastReconcile).not.toBeNull();
    expect(s.json.lastRecord).not.toBeNull();
    expect(s.json.rmtab).toMatchObject({ checked: true, matches: true, addOnly: false });
    const text = c.run("ds03", ["status"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^rmtabsync OK: /);
    expect(text.stdout).toContain("rmtab: matches the journals");
  });

  it("no marker on the control volume is CRITICAL (exit 2)", () => {
    const c = new TestCluster();
    const s = status(c, "ds03");
    expect(s.code).toBe(2);
    expect(s.json.state).toBe("CRITICAL");
    expect(ids(s.json)).toEqual(["control-marker-missing"]);
    const text = c.run("ds03", ["status"]);
    expect(text.code).toBe(2);
    expect(text.stdout).toMatch(/^rmtabsync CRITICAL: no marker on /);
  });

  it("a control volume of another cluster is CRITICAL", () => {
    const c = healthy();
    writeFileSync(join(c.control, "rmtabsync.cluster"), JSON.stringify({ cluster: "other", format: 1 }));
    const s = status(c, "ds03");
    expect(s.code).toBe(2);
    expect(ids(s.json)).toEqual(["control-marker-foreign"]);
  });

  it("this node without a journal is CRITICAL; a peer without one is a WARNING (add-only)", () => {
    const c = new TestCluster();
    c.ok("ds04", ["init"]);
    expect(ids(status(c, "ds03").json)).toContain("own-journal-missing");
    expect(status(c, "ds03").code).toBe(2);
    const s = status(c, "ds04");
    expect(s.code).toBe(1);
    expect(ids(s.json)).toEqual(["journal-missing", "reconcile-never"]);
    expect(s.json.rmtab).toMatchObject({ checked: true, addOnly: true });
  });

  it("an unreadable peer journal is a WARNING naming the file and add-only mode", () => {
    const c = healthy();
    writeFileSync(join(c.control, "journals", "ds04.sqlite"), "garbage, not SQLite".repeat(100));
    const s = status(c, "ds03");
    expect(s.code).toBe(1);
    expect(ids(s.json)).toEqual(["journal-unreadable"]);
    expect(s.json.findings[0]!.message).toMatch(/ds04\.sqlite: not an SQLite database.*add-only/);
    expect(s.json.journals.find((j) => j.node === "ds04")).toMatchObject({ present: true, readable: false });
  });

  it("rmtab behind the journals is a WARNING; --export limits the comparison to that export", () => {
    const c = healthy();
    c.mountd("ds04", "mount", "10.0.0.30", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const s = status(c, "ds03");
    expect(s.code).toBe(1);
    expect(ids(s.json)).toEqual(["rmtab-differs"]);
    expect(s.json.rmtab).toMatchObject({ checked: true, matches: false, add: 1, remove: 0 });
    const vm0 = status(c, "ds03", ["--export", "vm0"]);
    expect(vm0.code).toBe(0);
    expect(vm0.json.exportHosted).toBe(true);
    const vm1 = status(c, "ds03", ["--export", "vm1"]);
    expect(vm1.code).toBe(1);
    expect(vm1.json.exportHosted).toBe(false);
    c.ok("ds03", ["reconcile"]);
    expect(status(c, "ds03").code).toBe(0);
  });

  it("a local mount not yet recorded is not a difference (reconcile would record and keep it)", () => {
    const c = healthy();
    c.mountd("ds03", "mount", "10.0.0.40", "/srv/vm0");
    expect(status(c, "ds03").code).toBe(0);
  });

  it("callout events no record journaled for longer than --stale-after are a WARNING naming the spool; a record clears it", () => {
    const c = healthy();
    const spool = join(c.stateDir("ds03"), "rmtabsync.spool");
    writeFileSync(spool, "mount\t1\t10.0.0.50\t/srv/vm0\nmount\t1\t10.0.0.51\t/srv/vm0\n");
    // fresh: record runs within seconds from the path unit or the daemon
    expect(ids(status(c, "ds03").json)).not.toContain("spool-waiting");
    const old = new Date(Date.now() - 20 * 60_000);
    utimesSync(spool, old, old);
    const s = status(c, "ds03");
    expect(s.code).toBe(1);
    expect(s.json.findings.find((f) => f.id === "spool-waiting")?.message).toMatch(
      new RegExp(`^2 event\\(s\\) mountd's callout captured wait in ${c.stateDir("ds03").replaceAll("/", "\\/")} since 20 min ago, not journaled`),
    );
    c.ok("ds03", ["record"]);
    expect(ids(status(c, "ds03").json)).not.toContain("spool-waiting");
  });

  it("a stale last reconcile is a WARNING", async () => {
    const c = healthy();
    await new Promise((r) => setTimeout(r, 1200));
    const s = status(c, "ds03", ["--stale-after", "1s"]);
    expect(s.code).toBe(1);
    expect(ids(s.json)).toEqual(["reconcile-stale"]);
    expect(status(c, "ds03", ["--stale-after", "1h"]).code).toBe(0);
  });

  it("malformed rmtab lines, then quarantined lines, are WARNINGs", () => {
    const c = healthy();
    writeFileSync(join(c.stateDir("ds03"), "rmtab"), `${c.rmtab("ds03")}no-colon-here\n`);
    const before = status(c, "ds03");
    expect(ids(before.json)).toEqual(["rmtab-malformed"]);
    c.ok("ds03", ["reconcile"]);
    const after = status(c, "ds03");
    expect(after.code).toBe(1);
    expect(after.json.quarantined).toBe(1);
    expect(ids(after.json)).toEqual(["quarantine-present"]);
    unlinkSync(join(c.stateDir("ds03"), "rmtab.quarantine"));
    expect(status(c, "ds03").code).toBe(0);
  });

  it("writes nothing: no journal, rmtab, lock file or quarantine change", () => {
    const c = healthy();
    c.mountd("ds03", "mount", "10.0.0.41", "/srv/vm0"); // unrecorded change: a real reconcile would journal it
    writeFileSync(join(c.stateDir("ds03"), "rmtab"), `${c.rmtab("ds03")}bad line\n`);
    unlinkSync(join(c.stateDir("ds03"), ".rmtab.lock"));
    const before = snapshot(c.root);
    for (const args of [[], ["--json"], ["--export", "vm0"]]) c.run("ds03", ["status", ...args]);
    expect(snapshot(c.root)).toEqual(before);
    expect(existsSync(join(c.stateDir("ds03"), ".rmtab.lock"))).toBe(false);
  });

  it("a crash-left rollback journal beside this node's journal: WARNING, read through a copy, file untouched", () => {
    const c = healthy();
    const file = join(c.control, "journals", "ds03.sqlite");
    // a writer that dies inside a transaction big enough to spill into the database file
    spawnSync("python3", [
      "-c",
      `import sqlite3, os
c = sqlite3.connect(${JSON.stringify(file)}, isolation_level=None)
c.execute("PRAGMA cache_size = 2")
c.execute("BEGIN IMMEDIATE")
for i in range(3000): c.execute("INSERT INTO meta (key, value) VALUES (?, ?)", ("junk%d" % i, "x" * 64))
os._exit(0)`,
    ]);
    expect(existsSync(`${file}-journal`)).toBe(true);
    const before = snapshot(c.control);
    const s = status(c, "ds03");
    expect(snapshot(c.control)).toEqual(before);
    expect(ids(s.json)).toEqual(["own-journal-recovery", "rmtab-unchecked"]);
    expect(s.code).toBe(3);
    expect(s.json.journals[0]).toMatchObject({ node: "ds03", readable: true, events: 1 });
    expect(s.json.lastReconcile).not.toBeNull();
    c.ok("ds03", ["record"]); // a read-write open rolls the journal back
    expect(existsSync(`${file}-journal`)).toBe(false);
    expect(status(c, "ds03").code).toBe(0);
  });

  it("when mountd's lock stays held, rmtab is UNKNOWN (exit 3), not a failure", async () => {
    const c = healthy();
    await holdLock(c.stateDir("ds03"), 20);
    const s = status(c, "ds03", ["--lock-timeout", "0.3"]);
    expect(s.code).toBe(3);
    expect(ids(s.json)).toEqual(["rmtab-unchecked"]);
    expect(s.json.rmtab).toMatchObject({ checked: false });
    expect(s.json.rmtab!.error).toMatch(/could not lock/);
  });

  it("a broken configuration or an unknown export is UNKNOWN (exit 3), in --json too", () => {
    const c = healthy();
    expect(status(c, "ds03", ["--export", "nope"])).toMatchObject({ code: 3, json: { state: "UNKNOWN" } });
    writeFileSync(c.configFile("ds03"), "cluster: [\n");
    const r = c.run("ds03", ["status"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^rmtabsync UNKNOWN: invalid configuration \S+: .*\n$/);
  });

  it("a missing stateDir: record names the config key and path (exit 2), status is CRITICAL and advises no reconcile", () => {
    const c = new TestCluster();
    c.initAll();
    const gone = join(c.root, "no-such-state");
    writeFileSync(c.configFile("ds03"), c.configText("ds03").replace(`stateDir: ${c.stateDir("ds03")}`, `stateDir: ${gone}`));
    for (const cmd of ["record", "reconcile"]) {
      const r = c.run("ds03", [cmd]);
      expect([cmd, r.code]).toEqual([cmd, 2]);
      expect(r.stderr).toContain(`invalid configuration ${c.configFile("ds03")}:\n  stateDir: expected rpc.mountd's state directory (holding rmtab, etab and .rmtab.lock), found "${gone}", which does not exist`);
      expect(r.stderr).not.toMatch(/ENOENT/);
    }
    const s = status(c, "ds03");
    expect(s.code).toBe(2);
    expect(ids(s.json)).toEqual(["state-dir-unusable"]);
    expect(s.json.findings[0]!.message).toContain(`stateDir "${gone}" does not exist`);
  });

  it("every call prints one first line `rmtabsync STATE: ...` on stdout; usage errors are UNKNOWN (exit 3)", () => {
    const c = healthy();
    const ok = c.run("ds03", ["status"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.split("\n")[0]).toMatch(
      /^rmtabsync OK: rmtab and journals in order \| journals=2;;;0 journals_unreadable=0;0;;0 events=\d+;;;0 entries=2;;;0 drift=0;0;;0 last_record_age=\d+s;;;0 last_reconcile_age=\d+s;900;;0$/,
    );
    c.mountd("ds04", "mount", "10.0.0.23", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const warn = c.run("ds03", ["status"]);
    expect(warn.code).toBe(1);
    expect(warn.stdout.split("\n")[0]).toMatch(/^rmtabsync WARNING: rmtab differs .* \| .* entries=2;;;0 drift=1;0;;0 /);
    for (const args of [["status", "--bogus"], ["status", "--stale-after", "soon"], ["status", "--lock-timeout", "x"], ["status", "--export"], ["status", "extra"], ["-n", "ds99", "status"]]) {
      const r = c.run("ds03", args);
      expect([args, r.code]).toEqual([args, 3]);
      expect(r.stdout).toMatch(/^rmtabsync UNKNOWN: \S.*\n$/);
    }
    const unreadable = new TestCluster();
    writeFileSync(unreadable.configFile("ds03"), "cluster: x\n");
    execFileSync("chmod", ["000", unreadable.configFile("ds03")]);
    const r = unreadable.run("ds03", ["status"]);
    if (process.getuid?.() !== 0) expect(r.stdout).toMatch(/^rmtabsync UNKNOWN: invalid configuration .*cannot read it/);
    expect(r.code).toBe(3);
  });
});

describe("status checks (pure)", () => {
  const base: StatusFacts = {
    node: "ds03",
    cluster: "c",
    controlDir: "/srv/nfs-control",
    controlMounted: true,
    marker: { kind: "ok", cluster: "c" },
    journals: [
      { node: "ds03", file: "/j/ds03.sqlite", own: true, present: true, events: 3 },
      { node: "ds04", file: "/j/ds04.sqlite", own: false, present: true, events: 2 },
    ],
    lastRecord: 1_000_000,
    lastReconcile: 1_000_000,
    pending: false,
    rmtab: { ok: { add: 0, remove: 0, change: 0, heldBack: 0, malformed: 0, addOnly: false, entries: 2 } },
    quarantined: 0,
    export: undefined,
    exportHosted: undefined,
    etabProblems: [],
    diverged: [],
    unusable: [],
    now: 1_000_000 + 60_000,
    staleAfterMs: 15 * 60_000,
  };
  const fired = (f: Partial<StatusFacts>) =>
    evaluateStatus({ ...base, ...f })
      .findings.map((x) => `${x.state} ${x.id}`)
      .sort();

  it("the base case is OK", () => {
    expect(evaluateStatus(base)).toEqual({ state: "OK", findings: [] });
  });

  it("each check fires on its fact and stays quiet on the close case", () => {
    expect(fired({ marker: { kind: "missing" } })).toEqual(["CRITICAL control-marker-missing"]);
    expect(fired({ controlMounted: false, controlMustBeMountpoint: true })).toEqual(["CRITICAL control-not-mountpoint"]);
    expect(fired({ controlMounted: false, controlMustBeMountpoint: false })).toEqual([]);
    expect(fired({ controlMounted: true, controlMustBeMountpoint: true })).toEqual([]);
    expect(fired({ unusable: [{ file: "/j/ds04.sqlite", kind: "invalid", problem: "1 event not used" }] })).toEqual(["WARNING journal-invalid"]);
    expect(fired({ unusable: [{ file: "/j/ds04.sqlite", kind: "future", problem: "1 event not used" }] })).toEqual(["WARNING journal-future"]);
    expect(fired({ stateDirProblem: '"/var/lib/nfs" does not exist', lastReconcile: undefined })).toEqual(["CRITICAL state-dir-unusable"]);
    expect(fired({ stateDirProblem: undefined })).toEqual([]);
    expect(fired({ lastReconcile: base.now - 15 * 60_000 - 1 })).toEqual(["WARNING reconcile-stale"]);
    expect(fired({ lastReconcile: base.now - 15 * 60_000 })).toEqual([]);
    expect(fired({ lastReconcile: undefined })).toEqual(["WARNING reconcile-never"]);
    expect(fired({ rmtab: { ok: { add: 0, remove: 1, change: 0, heldBack: 0, malformed: 0, addOnly: false, entries: 2 } } })).toEqual(["WARNING rmtab-differs"]);
    expect(fired({ rmtab: { ok: { add: 0, remove: 0, change: 0, heldBack: 1, malformed: 0, addOnly: true, entries: 2 } } })).toEqual([]);
    expect(fired({ rmtab: { error: "could not lock" } })).toEqual(["UNKNOWN rmtab-unchecked"]);
    expect(fired({ quarantined: 2 })).toEqual(["WARNING quarantine-present"]);
    expect(fired({ pending: true })).toEqual(["WARNING reconcile-interrupted"]);
    expect(fired({ etabProblems: ["etab line 3: no tab"] })).toEqual(["WARNING etab-unparsable"]);
    expect(fired({ spool: [{ dir: "/var/lib/nfs", events: 3, oldest: base.now - 15 * 60_000 - 1 }] })).toEqual(["WARNING spool-waiting"]);
    expect(fired({ spool: [{ dir: "/var/lib/nfs", events: 3, oldest: base.now - 15 * 60_000 }] })).toEqual([]);
    expect(fired({ spool: [{ dir: "/var/lib/nfs", events: 0, oldest: undefined }] })).toEqual([]);
    const peerGone = [base.journals[0]!, { ...base.journals[1]!, present: false }];
    expect(fired({ journals: peerGone })).toEqual(["WARNING journal-missing"]);
    const peerBad = [base.journals[0]!, { ...base.journals[1]!, problem: "database is corrupt" }];
    expect(fired({ journals: peerBad })).toEqual(["WARNING journal-unreadable"]);
    const ownBad = [{ ...base.journals[0]!, problem: "busy" }, base.journals[1]!];
    expect(fired({ journals: ownBad })).toEqual(["CRITICAL own-journal-unreadable"]);
    const ownHot = [{ ...base.journals[0]!, recovery: true }, base.journals[1]!];
    expect(fired({ journals: ownHot })).toEqual(["WARNING own-journal-recovery"]);
  });

  it("the worst state wins: CRITICAL over UNKNOWN over WARNING", () => {
    expect(evaluateStatus({ ...base, quarantined: 1, rmtab: { error: "x" } }).state).toBe("UNKNOWN");
    expect(evaluateStatus({ ...base, quarantined: 1, marker: { kind: "missing" } }).state).toBe("CRITICAL");
    expect(evaluateStatus({ ...base, quarantined: 1 }).state).toBe("WARNING");
    expect(CHECKS.length).toBeGreaterThan(5);
  });
});

