// A reconcile that dies between committing its new baseline and renaming
// rmtab into place (driven in-process so the crash lands exactly there).
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { reconcile, record, type SyncContext } from "../src/sync.js";
import { line, TestCluster } from "./helpers/cluster.js";

function ctx(c: TestCluster, node: string, extra: Partial<SyncContext> = {}): SyncContext {
  return { cfg: loadConfig(c.configFile(node)), node, lockTimeoutMs: 5000, now: () => Date.now(), warn: () => undefined, ...extra };
}

describe("a reconcile that crashes before its rename", () => {
  it("leaves rmtab old, and the next record neither re-records nor erases what that reconcile meant to write", async () => {
    const c = new TestCluster();
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.etab("ds04", ["/srv/vm1"]);
    c.mountd("ds04", "mount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    // a peer change that the next reconcile on ds03 adds, and one it removes
    c.mountd("ds04", "mount", "10.0.0.3", "/srv/vm1");
    c.mountd("ds04", "umount", "10.0.0.2", "/srv/vm1");
    c.ok("ds04", ["record"]);
    const before = c.rmtab("ds03");
    await expect(
      reconcile(
        ctx(c, "ds03", {
          beforeRename: () => {
            throw new Error("simulated crash before rename");
          },
        }),
      ),
    ).rejects.toThrow(/simulated crash/);
    expect(c.rmtab("ds03")).toBe(before);
    // the next record sees the old rmtab against two candidate baselines: nothing to record
    const r = await record(ctx(c, "ds03"));
    expect(r.recorded).toEqual([]);
    // a real change made meanwhile is still recorded
    c.mountd("ds03", "mount", "10.0.0.4", "/srv/vm0");
    const r2 = await reconcile(ctx(c, "ds03"));
    expect(r2.recorded.map((e) => `${e.op} ${e.client}`)).toEqual(["mount 10.0.0.4"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.3", "/srv/vm1"), line("10.0.0.4", "/srv/vm0")].sort());
    expect(c.json("ds03", ["show"]).mounts).toHaveLength(3);
  });
});
