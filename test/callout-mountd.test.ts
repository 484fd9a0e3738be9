// deploy/mountd-callout under the REAL rpc.mountd (Debian's nfs-kernel-server):
// `rpc.mountd -F -s <stateDir> --ha-callout ...`, etab written by the real
// exportfs, a real MOUNT v3 UMNT over UDP (test/helpers/rpc-umnt.py). The
// UMNT must reach the journal with its exact count, by record and by watch.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { line, TestCluster } from "./helpers/cluster.js";
import { exportfs, MountdDaemons, preflight, showmountAll, showmountExports, umnt } from "./helpers/mountd-daemon.js";
import { CALLOUT, until, WatchProc } from "./helpers/watch-proc.js";

type Ev = { op: string; client: string; path: string; count: number };

describe("the ha-callout under the real rpc.mountd", () => {
  let base: string;
  let c: TestCluster;
  let d: MountdDaemons;
  let vm0: string;
  let spool: string;

  beforeAll(async () => {
    preflight();
    base = mkdtempSync(join(tmpdir(), "rmtabsync-mountd-"));
    vm0 = join(base, "srv", "vm0");
    mkdirSync(vm0, { recursive: true });
    mkdirSync(join(base, "srv", "vm1"), { recursive: true });
    c = new TestCluster(["ds03", "ds04"], [
      { name: "vm0", path: vm0 },
      { name: "vm1", path: join(base, "srv", "vm1") },
    ]);
    c.initAll();
    const state = c.stateDir("ds03");
    spool = join(state, "rmtabsync.spool");
    exportfs(join(base, "exportfs"), state, [{ path: vm0, options: "rw,insecure,no_subtree_check,fsid=1" }]);
    d = new MountdDaemons(join(base, "mountd"), { chain: CALLOUT, env: { RMTABSYNC_SPOOL: spool } });
    await d.start(state);
  });

  afterAll(async () => {
    await d?.stop();
  });

  it("a real UMNT reaches the journal with its exact count (record, then watch)", async () => {
    // MNT needs a kernel nfsd: the mounts are made the way mountd makes them, under its lock
    c.mountd("ds03", "mount", "127.0.0.1", vm0);
    c.mountd("ds03", "mount", "127.0.0.1", vm0);
    c.mountd("ds03", "mount", "127.0.0.1", vm0);
    expect(c.json("ds03", ["record"]).recorded.map((e: Ev) => `${e.op} ${e.count}`)).toEqual(["mount 3"]);
    expect(showmountExports()).toEqual([vm0]); // mountd loads etab; it serves UMNT only after that

    umnt(vm0);
    d.assertRunning();
    expect(c.rmtab("ds03")).toBe(`${line("127.0.0.1", vm0, 2)}\n`);
    expect(d.calloutCalls()).toEqual([`unmount 127.0.0.1 ${vm0} 2`]);
    expect(readFileSync(spool, "utf8")).toBe(`unmount\t2\t127.0.0.1\t${vm0}\n`);
    const r = c.json("ds03", ["record"]);
    expect(r.recorded.map((e: Ev) => `${e.op} ${e.client} ${e.path} ${e.count}`)).toEqual([`count 127.0.0.1 ${vm0} 2`]);

    const w = new WatchProc(c, "ds03", ["--debounce", "20"]);
    try {
      await w.ready();
      umnt(vm0);
      umnt(vm0);
      expect(c.rmtab("ds03")).toBe("");
      expect(showmountAll()).toEqual([]);
      await until("both UMNTs in the journal", () => {
        const ev = c.json<{ events: Ev[] }>("ds03", ["log", "--origin", "ds03"]).events.map((e) => `${e.op} ${e.count}`);
        return JSON.stringify(ev) === JSON.stringify(["mount 3", "count 2", "count 1", "umount 0"]);
      });
      await w.waitFor(/^<6>recorded \d changes?: /);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
    d.assertRunning();
    expect(d.calloutCalls()).toEqual([`unmount 127.0.0.1 ${vm0} 2`, `unmount 127.0.0.1 ${vm0} 1`, `unmount 127.0.0.1 ${vm0} 0`]);
  });
});
