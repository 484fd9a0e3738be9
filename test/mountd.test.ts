// rmtabsync against the real Debian daemons: rpcbind, rpc.mountd -F -s
// <node state dir>, exportfs (in a private mount namespace), showmount, and
// real SunRPC UMNT calls (test/helpers/rpc-umnt.py). No mocks: if a daemon,
// tool or root is missing, every test fails naming it (never a silent skip).
//
// One two-node cluster (ds03, ds04) for the whole file; the tests run in
// order and build on each other, like the life of a real cluster:
// ds03 exports vm0, ds04 exports vm1, then vm0 fails over to ds04, where the
// real rpc.mountd runs.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { CLI, TestCluster, line } from "./helpers/cluster.js";
import {
  MountdDaemons,
  exportfs,
  pinPython3,
  preflight,
  showmountAll,
  showmountExports,
  sleep,
  umnt,
  umntAsync,
  waitFor,
  type ExportLine,
} from "./helpers/mountd-daemon.js";

let base: string;
let cluster: TestCluster;
let daemons: MountdDaemons | undefined;
let V0: string; // export vm0
let IMG: string; // a subdirectory of vm0 that clients mount
let V1: string; // export vm1

const OPTS = "rw,sync,no_subtree_check"; // `secure` (the default): UMNT is sent from a port below 1024

function exportsFor(node: string, names: ("vm0" | "vm1")[]): string {
  const all: Record<string, ExportLine> = {
    vm0: { path: V0, options: `${OPTS},fsid=1` },
    vm1: { path: V1, options: `${OPTS},fsid=2` },
  };
  return exportfs(join(base, "exportfs", node), cluster.stateDir(node), names.map((n) => all[n]!));
}

/** What showmount -a must print for a node's rmtab: host (with ':') and path of each line. */
function dumpOf(node: string): string[] {
  return cluster
    .lines(node)
    .map((l) => {
      const m = /^([^:]*):([^:]*):0x[0-9a-f]{8}$/.exec(l);
      if (!m) throw new Error(`not a canonical rmtab line: ${JSON.stringify(l)}`);
      return `${m[1]!.replaceAll(";", ":")}:${m[2]}`;
    })
    .sort();
}

function rmtabFile(node: string): string {
  return join(cluster.stateDir(node), "rmtab");
}

/** Runs the CLI without blocking the test (for a command that must wait for mountd's lock). */
function runAsync(node: string, args: string[]): { done: Promise<{ code: number; stdout: string; stderr: string }>; finished: () => boolean } {
  let finished = false;
  const done = new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, "-c", cluster.configFile(node), "-n", node, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => {
      finished = true;
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  return { done, finished: () => finished };
}

const pick = (rows: any[], keys: string[]) => rows.map((r) => Object.fromEntries(keys.map((k) => [k, r[k]])));

let setupError: unknown;

async function setup(): Promise<void> {
  preflight();
  base = realpathSync(mkdtempSync(join(tmpdir(), "rmtabsync-mountd-")));
  pinPython3(join(base, "bin"));
  V0 = join(base, "srv", "vm0");
  IMG = join(V0, "images");
  V1 = join(base, "srv", "vm1");
  for (const d of [IMG, V1]) mkdirSync(d, { recursive: true });
  cluster = new TestCluster(["ds03", "ds04"], [
    { name: "vm0", path: V0 },
    { name: "vm1", path: V1 },
  ]);
  cluster.initAll();
  exportsFor("ds03", ["vm0"]);
  exportsFor("ds04", ["vm1"]);
  daemons = new MountdDaemons(join(base, "daemons"));
  await daemons.start(cluster.stateDir("ds04"));
}

// A missing daemon, tool or privilege fails every test with the reason
// (rather than a suite error that reports the tests as skipped).
beforeAll(async () => {
  try {
    await setup();
  } catch (err) {
    setupError = err;
  }
});

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await daemons?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
  if (cluster) rmSync(cluster.root, { recursive: true, force: true });
});

describe("rmtabsync with the real rpc.mountd, exportfs and showmount", () => {
  test("the etab the real exportfs writes tells rmtabsync which exports each node hosts", () => {
    const text = readFileSync(join(cluster.stateDir("ds03"), "etab"), "utf8");
    expect(text).toMatch(new RegExp(`^${V0}\\t\\*\\([^)]*\\bfsid=1\\b[^)]*\\)$`, "m"));
    expect(text).not.toContain(V1);

    const r03 = cluster.json("ds03", ["record"]);
    expect(r03.hosted).toEqual(["vm0"]);
    expect(r03.recorded).toEqual([]);
    const r04 = cluster.json("ds04", ["record"]);
    expect(r04.hosted).toEqual(["vm1"]);

    // The real mountd on ds04 serves ds04's etab.
    expect(showmountExports()).toEqual([V1]);
  });

  test("showmount -a on ds04's real mountd lists exactly what reconcile wrote from ds03's journal, IPv6 included", () => {
    // Clients mount through ds03's mountd (its MNT path, under its lock).
    cluster.mountd("ds03", "mount", "10.0.0.21", V0);
    cluster.mountd("ds03", "mount", "10.0.0.22", IMG);
    cluster.mountd("ds03", "mount", "10.0.0.22", IMG);
    cluster.mountd("ds03", "mount", "2001:db8::5", V0);
    cluster.mountd("ds03", "mount", "127.0.0.1", V0);
    cluster.mountd("ds03", "mount", "127.0.0.1", V0);
    const rec = cluster.json("ds03", ["record"]);
    expect(pick(rec.recorded, ["op", "client", "path", "count", "node"])).toEqual([
      { op: "mount", client: "10.0.0.21", path: V0, count: 1, node: "ds03" },
      { op: "mount", client: "127.0.0.1", path: V0, count: 2, node: "ds03" },
      { op: "mount", client: "2001:db8::5", path: V0, count: 1, node: "ds03" },
      { op: "mount", client: "10.0.0.22", path: IMG, count: 2, node: "ds03" },
    ]);

    // ds04's own client, then what its real mountd answers before reconcile.
    cluster.mountd("ds04", "mount", "10.0.0.31", V1);
    cluster.ok("ds04", ["record"]);
    expect(showmountAll()).toEqual([`10.0.0.31:${V1}`]);

    const r = cluster.json("ds04", ["reconcile"]);
    expect(r.written).toBe(true);
    // new lines by export, then client, then path
    expect(pick(r.added, ["client", "path", "count"])).toEqual([
      { client: "10.0.0.21", path: V0, count: 1 },
      { client: "10.0.0.22", path: IMG, count: 2 },
      { client: "127.0.0.1", path: V0, count: 2 },
      { client: "2001:db8::5", path: V0, count: 1 },
    ]);

    const expected = [
      line("10.0.0.31", V1),
      line("10.0.0.21", V0),
      line("127.0.0.1", V0, 2),
      line("2001:db8::5", V0),
      line("10.0.0.22", IMG, 2),
    ].sort();
    expect(cluster.lines("ds04")).toEqual(expected);
    expect(cluster.rmtab("ds04")).toContain(`2001;db8;;5:${V0}:0x00000001\n`);

    // DUMP straight after the rewrite (same second as the DUMP above, most
    // likely): mountd must see the new rmtab, not its cached answer.
    const dump = showmountAll();
    expect(dump).toEqual(
      [`10.0.0.31:${V1}`, `10.0.0.21:${V0}`, `127.0.0.1:${V0}`, `2001:db8::5:${V0}`, `10.0.0.22:${IMG}`].sort(),
    );
    expect(dump).toEqual(dumpOf("ds04"));
  });

  test("every rewrite gets a later whole-second mtime, so mountd's DUMP cache never hides it", () => {
    for (const client of ["10.0.1.1", "10.0.1.2"]) {
      const before = statSync(rmtabFile("ds04")).mtimeMs;
      showmountAll(); // mountd caches DUMP by rmtab's mtime in whole seconds
      cluster.mountd("ds03", "mount", client, V0);
      cluster.ok("ds03", ["record"]);
      const r = cluster.json("ds04", ["reconcile"]);
      expect(r.written).toBe(true);
      expect(pick(r.added, ["client", "path", "count"])).toEqual([{ client, path: V0, count: 1 }]);
      const after = statSync(rmtabFile("ds04")).mtimeMs;
      expect(Math.floor(after / 1000)).toBeGreaterThan(Math.floor(before / 1000));
      const dump = showmountAll();
      expect(dump).toContain(`${client}:${V0}`);
      expect(dump).toEqual(dumpOf("ds04"));
    }
  });

  test("failover: the real exportfs moves vm0 to ds04, and mountd and rmtabsync follow etab", () => {
    exportsFor("ds03", []);
    exportsFor("ds04", ["vm0", "vm1"]);
    expect(showmountExports()).toEqual([V0, V1].sort());
    const r04 = cluster.json("ds04", ["record"]);
    expect(r04.hosted).toEqual(["vm0", "vm1"]);
    expect(r04.recorded).toEqual([]);
    const r03 = cluster.json("ds03", ["record"]);
    expect(r03.hosted).toEqual([]);
    expect(r03.recorded).toEqual([]);
  });

  test("a real UMNT makes mountd decrement, then remove, the line; record journals each exact count", () => {
    const others = cluster.lines("ds04").filter((l) => !l.startsWith("127.0.0.1:"));
    expect(cluster.lines("ds04")).toContain(line("127.0.0.1", V0, 2));
    expect(showmountExports()).toContain(V0); // mountd serves UMNT only after it loaded etab

    const calls = daemons!.calloutCalls().length;
    umnt(V0);
    expect(cluster.lines("ds04")).toEqual([...others, line("127.0.0.1", V0, 1)].sort());
    expect(daemons!.calloutCalls().slice(calls)).toEqual([`unmount 127.0.0.1 ${V0} 1`]);
    expect(daemons!.mountdLog()).toMatch(new RegExp(`unmount request from 127\\.0\\.0\\.1:\\d+ for ${V0}`));
    let rec = cluster.json("ds04", ["record"]);
    expect(pick(rec.recorded, ["op", "client", "path", "count", "node", "export"])).toEqual([
      { op: "count", client: "127.0.0.1", path: V0, count: 1, node: "ds04", export: "vm0" },
    ]);

    umnt(V0);
    expect(cluster.lines("ds04")).toEqual(others);
    expect(daemons!.calloutCalls().slice(calls)).toEqual([`unmount 127.0.0.1 ${V0} 1`, `unmount 127.0.0.1 ${V0} 0`]);
    rec = cluster.json("ds04", ["record"]);
    expect(pick(rec.recorded, ["op", "client", "path", "count", "node", "export"])).toEqual([
      { op: "umount", client: "127.0.0.1", path: V0, count: 0, node: "ds04", export: "vm0" },
    ]);

    // The history and the cluster-wide table, from the journals alone.
    const log = cluster.json("ds03", ["log", "--client", "127.0.0.1"]);
    expect(pick(log.events, ["node", "op", "path", "count", "export"])).toEqual([
      { node: "ds03", op: "mount", path: V0, count: 2, export: "vm0" },
      { node: "ds04", op: "count", path: V0, count: 1, export: "vm0" },
      { node: "ds04", op: "umount", path: V0, count: 0, export: "vm0" },
    ]);
    const show = cluster.json("ds03", ["show"]);
    const table = (show.mounts as any[]).map((m) => line(m.client, m.path, m.count)).sort();
    expect(table).toEqual(others);
    expect(show.mounts.some((m: any) => m.client === "127.0.0.1")).toBe(false);

    // ds03 (which still had 127.0.0.1 from before the failover) drops it too.
    expect(cluster.lines("ds03")).toContain(line("127.0.0.1", V0, 2));
    const r03 = cluster.json("ds03", ["reconcile"]);
    expect(pick(r03.removed, ["client", "path"])).toEqual([{ client: "127.0.0.1", path: V0 }]);
    expect(cluster.lines("ds03")).toEqual(cluster.lines("ds04"));
  });

  test("rmtabsync waits for the real mountd's rmtab lock and then journals the count mountd wrote", async () => {
    cluster.mountd("ds04", "mount", "127.0.0.1", IMG);
    cluster.mountd("ds04", "mount", "127.0.0.1", IMG);
    cluster.mountd("ds04", "mount", "127.0.0.1", IMG);
    const rec0 = cluster.json("ds04", ["record"]);
    expect(pick(rec0.recorded, ["op", "client", "path", "count"])).toEqual([{ op: "mount", client: "127.0.0.1", path: IMG, count: 3 }]);
    const before = cluster.lines("ds04");
    expect(showmountExports()).toContain(V0);

    // mountd runs its ha-callout while it holds the rmtab write lock; the
    // callout holds it there until we create ./release.
    const dir = daemons!.workDir;
    const block = join(dir, "block");
    const release = join(dir, "release");
    const inside = join(dir, "inside");
    writeFileSync(block, "");
    let pendingUmnt: ReturnType<typeof umntAsync> | undefined;
    let waiting: ReturnType<typeof runAsync> | undefined;
    try {
      pendingUmnt = umntAsync(IMG);
      await waitFor("mountd's ha-callout to run (inside the rmtab lock)", () => existsSync(inside), 10_000);

      for (const cmd of ["record", "reconcile"]) {
        const r = cluster.run("ds04", [cmd, "--lock-timeout", "0.3"]);
        expect(r.code, `${cmd}: ${r.stderr}`).toBe(3);
        expect(r.stderr).toMatch(/could not lock .*\.rmtab\.lock/);
      }
      expect(cluster.lines("ds04")).toEqual(before);

      waiting = runAsync("ds04", ["record", "--lock-timeout", "20", "--json"]);
      await sleep(500);
      expect(waiting.finished()).toBe(false);
    } finally {
      writeFileSync(release, "");
    }
    const u = await pendingUmnt!;
    expect(u.code, u.stderr).toBe(0);
    const w = await waiting!.done;
    unlinkSync(block);
    unlinkSync(release);
    expect(w.code, w.stderr).toBe(0);

    const newCount = Number(daemons!.calloutCalls().at(-1)!.split(" ").at(-1));
    expect(daemons!.calloutCalls().at(-1)).toBe(`unmount 127.0.0.1 ${IMG} 2`);
    expect(cluster.lines("ds04")).toContain(line("127.0.0.1", IMG, newCount));
    expect(pick(JSON.parse(w.stdout).recorded, ["op", "client", "path", "count", "node"])).toEqual([
      { op: "count", client: "127.0.0.1", path: IMG, count: newCount, node: "ds04" },
    ]);
    daemons!.assertRunning();
  });
});
