// mountd's ha-callout (deploy/mountd-callout) and how record/watch fold its
// spool into the journal. mountd_sim.py runs the callout exactly where
// rpc.mountd does (under the rmtab lock, before writing rmtab);
// test/callout-mountd.test.ts does the same against the real rpc.mountd.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { line, SIM, TestCluster, started } from "./helpers/cluster.js";
import { CALLOUT, until, WatchProc } from "./helpers/watch-proc.js";

type Ev = { op: string; client: string; path: string; count: number };

function spool(c: TestCluster, node: string): string {
  return join(c.stateDir(node), "rmtabsync.spool");
}

/** What rpc.mountd does on MNT/UMNT, running the callout the way it does. */
function mountd(c: TestCluster, node: string, op: "mount" | "umount", host: string, path: string): void {
  execFileSync("python3", [SIM, c.stateDir(node), op, host, path], {
    env: { ...process.env, MOUNTD_SIM_CALLOUT: CALLOUT, RMTABSYNC_SPOOL: spool(c, node) },
  });
}

function events(c: TestCluster, origin: string): string[] {
  return c.json<{ events: Ev[] }>(origin, ["log", "--origin", origin]).events.map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
}

function spoolFiles(c: TestCluster, node: string): string[] {
  return readdirSync(c.stateDir(node)).filter((n) => n.startsWith("rmtabsync.spool"));
}

describe("mountd ha-callout", () => {
  it("appends EVENT, NEWCOUNT, CLIENT, PATH as one line per call and always exits 0", () => {
    const c = started();
    const env = { ...process.env, RMTABSYNC_SPOOL: spool(c, "ds03") };
    const calls = [
      ["mount", "10.0.0.21", "/srv/vm0", "1"],
      ["unmount", "2001:db8::5", "/srv/vm0/dir with space", "0"],
      ["unmount-all", "10.0.0.22", "", ""],
      ["add-client", "x", "y", "-1"], // statd's events are not ours: ignored
    ];
    for (const a of calls) expect(spawnSync(CALLOUT, a, { env }).status).toBe(0);
    expect(readFileSync(spool(c, "ds03"), "utf8")).toBe(
      "mount\t1\t10.0.0.21\t/srv/vm0\nunmount\t0\t2001:db8::5\t/srv/vm0/dir with space\nunmount-all\t\t10.0.0.22\t\n",
    );
    // a spool it cannot write never fails mountd
    const r = spawnSync(CALLOUT, ["mount", "10.0.0.21", "/srv/vm0", "2"], { env: { ...process.env, RMTABSYNC_SPOOL: "/nonexistent/dir/spool" } });
    expect(r.status).toBe(0);
  });

  it("record journals the exact counts, mount+umount pairs a file diff never sees included, and nothing twice", () => {
    const c = started();
    c.ok("ds03", ["record"]);
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "umount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "mount", "10.0.0.22", "/srv/vm0/images");
    mountd(c, "ds03", "umount", "10.0.0.22", "/srv/vm0/images");
    mountd(c, "ds03", "mount", "2001:db8::5", "/srv/vm0");
    // vm1 is not exported by ds03 (etab): not journaled, as record's own rule says
    mountd(c, "ds03", "mount", "10.0.0.40", "/srv/vm1");
    mountd(c, "ds03", "umount", "10.0.0.40", "/srv/vm1");
    expect(c.lines("ds03")).toEqual([line("10.0.0.21", "/srv/vm0"), line("2001:db8::5", "/srv/vm0")].sort());
    const dry = c.json("ds03", ["record", "--dry-run"]);
    expect(dry.recorded).toHaveLength(6);
    expect(existsSync(spool(c, "ds03"))).toBe(true); // a dry run takes nothing
    const r = c.json("ds03", ["record"]);
    expect(r.recorded.map((e: Ev) => `${e.op} ${e.client} ${e.path} ${e.count}`)).toEqual([
      "mount 10.0.0.21 /srv/vm0 1",
      "count 10.0.0.21 /srv/vm0 2",
      "count 10.0.0.21 /srv/vm0 1",
      "mount 10.0.0.22 /srv/vm0/images 1",
      "umount 10.0.0.22 /srv/vm0/images 0",
      "mount 2001:db8::5 /srv/vm0 1",
    ]);
    expect(r.ignored.map((i: { client: string }) => i.client)).toEqual(["10.0.0.40"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
    // the baseline moved with the spool: the next file diff journals nothing again
    expect(c.json("ds03", ["record"]).recorded).toEqual([]);
    expect(events(c, "ds03")).toHaveLength(6);
  });

  it("a change mountd announced but did not write is corrected by the file, which stays the truth", () => {
    const c = started();
    c.ok("ds03", ["record"]);
    // the callout ran, then mountd failed to write rmtab
    writeFileSync(spool(c, "ds03"), "mount\t1\t10.0.0.21\t/srv/vm0\n");
    const r = c.json("ds03", ["record"]);
    expect(r.recorded.map((e: Ev) => `${e.op} ${e.client} ${e.count}`)).toEqual(["mount 10.0.0.21 1", "umount 10.0.0.21 0"]);
  });

  it("folds a spool taken before a crash exactly once, and reports a malformed line", () => {
    const c = started();
    c.ok("ds03", ["record"]);
    // a run that renamed the spool and died before its commit
    writeFileSync(join(c.stateDir("ds03"), "rmtabsync.spool.taken-1"), "mount\t1\t10.0.0.21\t/srv/vm0\ngarbage\n");
    c.writeRmtab("ds03", `${line("10.0.0.21", "/srv/vm0")}\n`);
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    const r = c.run("ds03", ["record", "--json"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rmtabsync\.spool\.taken-1 line 2: expected EVENT<TAB>COUNT<TAB>CLIENT<TAB>PATH: "garbage"/);
    expect(JSON.parse(r.stdout).recorded.map((e: Ev) => `${e.op} ${e.client} ${e.count}`)).toEqual(["mount 10.0.0.21 1", "count 10.0.0.21 2"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
    expect(c.json("ds03", ["record"]).recorded).toEqual([]);
  });

  it("under watch, no callout line appended meanwhile is lost or journaled twice (300 mounts racing the daemon)", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--debounce", "5"]);
    try {
      await w.ready();
      const sim = spawn("python3", [SIM, c.stateDir("ds03"), "loop", "300", "10.0.2", "/srv/vm0"], {
        env: { ...process.env, MOUNTD_SIM_CALLOUT: CALLOUT, RMTABSYNC_SPOOL: spool(c, "ds03") },
        stdio: "ignore",
      });
      expect(await new Promise((r) => sim.on("exit", r))).toBe(0);
      await until("300 events in ds03's journal", () => events(c, "ds03").length >= 300, 30_000, 200);
      await new Promise((r) => setTimeout(r, 500));
      const ev = events(c, "ds03");
      expect(ev).toHaveLength(300);
      expect(new Set(ev).size).toBe(300);
      expect(ev.every((e) => /^mount 10\.0\.2\.\d+ \/srv\/vm0 1$/.test(e))).toBe(true);
      expect(w.find(/^<[34]>/)).toBe(-1);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("with the callout, nothing is lost while the control volume is away: the pairs come back with their counts", async () => {
    const c = started();
    const w = new WatchProc(c, "ds03", ["--backoff-max", "0.5"]);
    try {
      await w.ready();
      const marker = join(c.control, "rmtabsync.cluster");
      const saved = readFileSync(marker);
      rmSync(marker);
      mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
      mountd(c, "ds03", "mount", "10.0.0.22", "/srv/vm0");
      mountd(c, "ds03", "umount", "10.0.0.22", "/srv/vm0");
      const first = await w.waitFor(/^<3>record failed: control volume marker .* is missing/);
      mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
      await w.waitFor(/^<3>record failed: .*; retry 2 in /, { from: first });
      expect(readFileSync(spool(c, "ds03"), "utf8").split("\n")).toHaveLength(5); // 4 lines kept locally
      writeFileSync(marker, saved);
      await w.waitFor(/^<5>record works again/, { from: first });
      await until("the journal to catch up", () => events(c, "ds03").length === 4);
      expect(events(c, "ds03")).toEqual([
        "mount 10.0.0.21 /srv/vm0 1",
        "mount 10.0.0.22 /srv/vm0 1",
        "umount 10.0.0.22 /srv/vm0 0",
        "count 10.0.0.21 /srv/vm0 2",
      ]);
      expect(spoolFiles(c, "ds03")).toEqual([]);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
