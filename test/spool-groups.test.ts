// mountd's ha-callout spool with export groups (issue 11). The callout
// appends to one spool per node (<stateDir>/rmtabsync.spool); each event
// belongs to the journal of its export's group, never to another group's.
// While a group's volume cannot be written, its events wait on this node
// (<stateDir>/rmtabsync.groups/<group>/) and drain when the volume is back;
// the other groups go on. Real files, real SQLite, real locks, the real CLI;
// a read-only volume is a real tmpfs remounted read-only (tests run as root).
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { python3, SIM } from "./helpers/cluster.js";
import { bothGroupsOnDs03, GroupCluster, remountReadOnly } from "./helpers/groups.js";
import { CALLOUT, until, WatchProc } from "./helpers/watch-proc.js";

type Ev = { op: string; client: string; path: string; count: number };

const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts) spawnSync("umount", [m]);
});

function spool(c: GroupCluster, node: string): string {
  return join(c.stateDir(node), "rmtabsync.spool");
}

/** What rpc.mountd does on MNT/UMNT, running the callout the way it does. */
function mountd(c: GroupCluster, node: string, op: "mount" | "umount", host: string, path: string): void {
  execFileSync(python3(), [SIM, c.stateDir(node), op, host, path], {
    env: { ...process.env, MOUNTD_SIM_CALLOUT: CALLOUT, RMTABSYNC_SPOOL: spool(c, node) },
  });
}

/** Events `origin` recorded in `group`'s journal, read on `node`. */
function events(c: GroupCluster, node: string, group: string, origin: string): string[] {
  return c.json<{ events: Ev[] }>(node, ["log", "--group", group, "--origin", origin]).events.map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
}

/** Every spool file left anywhere in the node's state directory. */
function spoolFiles(c: GroupCluster, node: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory()) walk(join(dir, d.name), `${rel}${d.name}/`);
      else if (d.name.startsWith("rmtabsync.spool")) out.push(`${rel}${d.name}`);
    }
  };
  walk(c.stateDir(node), "");
  return out.sort();
}

/**
 * ds03 serves both groups: g0 (vm0) on a plain directory, g1 (vm1) on its
 * own tmpfs (so that it can be made read-only), both initialised; one
 * record so that the baselines exist before the callout runs.
 */
function bothOnDs03(): GroupCluster {
  const c = bothGroupsOnDs03(mounts);
  c.ok("ds03", ["record"]);
  return c;
}

describe("the callout spool with export groups", () => {
  it("each event goes to its group's journal only, with the exact counts of mount+umount pairs", () => {
    const c = bothOnDs03();
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "mount", "10.0.1.31", "/srv/vm1");
    mountd(c, "ds03", "umount", "10.0.1.31", "/srv/vm1");
    mountd(c, "ds03", "mount", "10.0.1.32", "/srv/vm1/images");
    mountd(c, "ds03", "mount", "10.0.0.22", "/srv/vm0");
    mountd(c, "ds03", "umount", "10.0.0.22", "/srv/vm0");
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1", "mount 10.0.0.22 /srv/vm0 1", "umount 10.0.0.22 /srv/vm0 0"]);
    // the pair of 10.0.1.31 never shows in the file: only the callout saw it
    expect(events(c, "ds03", "g1", "ds03")).toEqual(["mount 10.0.1.31 /srv/vm1 1", "umount 10.0.1.31 /srv/vm1 0", "mount 10.0.1.32 /srv/vm1/images 1"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
    // nothing twice
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g0", "ds03")).toHaveLength(3);
    expect(events(c, "ds03", "g1", "ds03")).toHaveLength(3);
  });

  it("while one group's volume is read-only its events wait on this node, the other group goes on, and they drain into that group's journal only", () => {
    const c = bothOnDs03();
    const g1 = c.ctl("ds03", "g1");
    execFileSync("mount", ["-o", "remount,ro", g1]);
    mountd(c, "ds03", "mount", "10.0.1.31", "/srv/vm1");
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "umount", "10.0.1.31", "/srv/vm1");
    const r = c.run("ds03", ["record"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/group g1: .*ds03\.sqlite: cannot be written: it is on a read-only file system/);
    // g0 went on, with its own event only
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1"]);
    // g1's events wait in g1's spool on this node (the node's spool was handed out)
    expect(spoolFiles(c, "ds03")).toEqual(["rmtabsync.groups/g1/rmtabsync.spool.taken-1"]);
    expect(readFileSync(join(c.stateDir("ds03"), "rmtabsync.groups/g1/rmtabsync.spool.taken-1"), "utf8")).toBe(
      "mount\t1\t10.0.1.31\t/srv/vm1\nunmount\t0\t10.0.1.31\t/srv/vm1\n",
    );

    // more events while g1 is still read-only, a record in between
    mountd(c, "ds03", "mount", "10.0.1.32", "/srv/vm1");
    mountd(c, "ds03", "mount", "10.0.1.32", "/srv/vm1");
    mountd(c, "ds03", "umount", "10.0.0.21", "/srv/vm0");
    expect(c.run("ds03", ["record"]).code).toBe(1);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1", "umount 10.0.0.21 /srv/vm0 0"]);
    expect(spoolFiles(c, "ds03")).toEqual(["rmtabsync.groups/g1/rmtabsync.spool.taken-1", "rmtabsync.groups/g1/rmtabsync.spool.taken-2"]);

    // the volume is back: every g1 event, in mountd's order and with its count, and only there
    execFileSync("mount", ["-o", "remount,rw", g1]);
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g1", "ds03")).toEqual([
      "mount 10.0.1.31 /srv/vm1 1",
      "umount 10.0.1.31 /srv/vm1 0",
      "mount 10.0.1.32 /srv/vm1 1",
      "count 10.0.1.32 /srv/vm1 2",
    ]);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1", "umount 10.0.0.21 /srv/vm0 0"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g1", "ds03")).toHaveLength(4);
  });

  it("a group whose volume is not mounted here keeps its events until it comes back", () => {
    const c = bothOnDs03();
    const g1 = c.ctl("ds03", "g1");
    mountd(c, "ds03", "mount", "10.0.1.31", "/srv/vm1");
    mountd(c, "ds03", "umount", "10.0.1.31", "/srv/vm1");
    // the volume goes away before a record could run (kept aside: DRBD's copy)
    const aside = join(c.root, "g1-aside");
    cpSync(g1, aside, { recursive: true });
    execFileSync("umount", [g1]);
    c.serve("ds03", ["vm0"]);
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1"]);
    expect(spoolFiles(c, "ds03")).toEqual(["rmtabsync.groups/g1/rmtabsync.spool.taken-1"]);
    // it comes back (Filesystem, then rmtabsync's start, then exportfs): its own events, and only them
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0755", "rmtabsync-test", g1]);
    cpSync(aside, g1, { recursive: true });
    c.ok("ds03", ["reconcile", "--hosting", "vm1"]);
    c.serve("ds03", ["vm0", "vm1"]);
    expect(events(c, "ds03", "g1", "ds03")).toEqual(["mount 10.0.1.31 /srv/vm1 1", "umount 10.0.1.31 /srv/vm1 0"]);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
  });

  it("a spool handed out only in part before a crash is handed out once, and nothing is journaled twice", () => {
    const c = bothOnDs03();
    const st = c.stateDir("ds03");
    // the node's taken file, and g1's part of it already written: the crash came before the unlink
    writeFileSync(join(st, "rmtabsync.spool.taken-4"), "mount\t1\t10.0.0.21\t/srv/vm0\nmount\t1\t10.0.1.31\t/srv/vm1\nunmount\t0\t10.0.1.31\t/srv/vm1\n");
    mkdirSync(join(st, "rmtabsync.groups/g1"), { recursive: true });
    writeFileSync(join(st, "rmtabsync.groups/g1/rmtabsync.spool.taken-4"), "mount\t1\t10.0.1.31\t/srv/vm1\nunmount\t0\t10.0.1.31\t/srv/vm1\n");
    // what mountd wrote to rmtab meanwhile (the callout lines above are of these calls)
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    // and a newer callout line
    mountd(c, "ds03", "mount", "10.0.1.32", "/srv/vm1");
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1"]);
    expect(events(c, "ds03", "g1", "ds03")).toEqual(["mount 10.0.1.31 /srv/vm1 1", "umount 10.0.1.31 /srv/vm1 0", "mount 10.0.1.32 /srv/vm1 1"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
  });

  it("under watch, a read-only group's events drain when its volume is writable again", async () => {
    const c = bothOnDs03();
    const g1 = c.ctl("ds03", "g1");
    const w = new WatchProc(c, "ds03", ["--backoff-max", "0.5", "--interval", "3600", "--poll", "0.2"]);
    try {
      await w.ready();
      await remountReadOnly(g1); // the daemon may be writing there right now
      mountd(c, "ds03", "mount", "10.0.1.31", "/srv/vm1");
      mountd(c, "ds03", "umount", "10.0.1.31", "/srv/vm1");
      mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
      const first = await w.waitFor(/^<3>record failed: group g1: .*read-only file system/);
      await until("g0's event", () => events(c, "ds03", "g0", "ds03").join() === "mount 10.0.0.21 /srv/vm0 1");
      execFileSync("mount", ["-o", "remount,rw", g1]);
      await w.waitFor(/^<5>record works again/, { from: first });
      await until("g1's events", () => events(c, "ds03", "g1", "ds03").length === 2);
      expect(events(c, "ds03", "g1", "ds03")).toEqual(["mount 10.0.1.31 /srv/vm1 1", "umount 10.0.1.31 /srv/vm1 0"]);
      expect(events(c, "ds03", "g0", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1"]);
      expect(spoolFiles(c, "ds03")).toEqual([]);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });

  it("the shared control directory and a group named \"shared\" each get their own events", () => {
    const c = GroupCluster.make(
      [{ name: "shared", exports: ["vm0"] }],
      [
        { name: "vm0", path: "/srv/vm0" },
        { name: "vm9", path: "/srv/vm9" },
      ],
      { shared: true },
    );
    c.create("ds03", "shared");
    c.ok("ds03", ["init"]);
    c.serve("ds03", ["vm0", "vm9"]);
    c.ok("ds03", ["record"]);
    mountd(c, "ds03", "mount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "umount", "10.0.0.21", "/srv/vm0");
    mountd(c, "ds03", "mount", "10.0.9.21", "/srv/vm9");
    mountd(c, "ds03", "umount", "10.0.9.21", "/srv/vm9");
    c.ok("ds03", ["record"]);
    expect(events(c, "ds03", "shared", "ds03")).toEqual(["mount 10.0.0.21 /srv/vm0 1", "umount 10.0.0.21 /srv/vm0 0"]);
    const shared = c
      .json<{ events: Ev[] }>("ds03", ["log", "--control-dir", c.control, "--origin", "ds03"])
      .events.map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
    expect(shared).toEqual(["mount 10.0.9.21 /srv/vm9 1", "umount 10.0.9.21 /srv/vm9 0"]);
    expect(spoolFiles(c, "ds03")).toEqual([]);
  });
});
