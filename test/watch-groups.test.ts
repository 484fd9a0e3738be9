// `rmtabsync watch` with export groups: the daemon watches each group's
// control directory (there only while the group's volume is mounted here)
// and runs the per-group passes of src/units.ts. Real files, real SQLite,
// real locks, the real CLI; DRBD is simulated as test/helpers/groups.ts says.
import { readdirSync, readlinkSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { line } from "./helpers/cluster.js";
import { twoGroups, type GroupCluster } from "./helpers/groups.js";
import { until, WatchProc } from "./helpers/watch-proc.js";

type Ev = { op: string; client: string; path: string; count: number };
/** Events `origin` recorded in `group`'s journal, read on `node` (which has the group mounted). */
function events(c: GroupCluster, node: string, group: string, origin: string): string[] {
  return c.json<{ events: Ev[] }>(node, ["log", "--group", group, "--origin", origin]).events.map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
}

describe("rmtabsync watch with export groups", () => {
  it("records a local change into the group's journal; reconciles when a group's volume arrives with a peer's journal, and when it leaves", async () => {
    const c = twoGroups();
    const w = new WatchProc(c, "ds03", ["--interval", "3600", "--poll", "0.2"]);
    try {
      await w.ready();
      expect(w.log).toMatch(/^<6>group g1: .* is not here \(the group's volume is not mounted on this node\); watching for it$/m);
      expect(w.log).not.toMatch(/^<[0-3]>/m);

      // a client mounts vm0 through ds03's mountd: the daemon journals it into g0's volume
      c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
      await until("ds03's event in g0's journal", () => events(c, "ds03", "g0", "ds03").join() === "mount 10.0.0.21 /srv/vm0 1");
      await w.waitFor(/^<6>group g0: recorded 1 change: mount 10\.0\.0\.21 \/srv\/vm0 1$/);

      // on ds04 (g1's node, no daemon there) a client mounts vm1, recorded into g1's volume
      c.mountd("ds04", "mount", "10.0.0.31", "/srv/vm1");
      c.ok("ds04", ["record"]);

      // g1 fails over to ds03 in Pacemaker's order, but nothing runs rmtabsync on ds03:
      // the daemon sees g1's volume arrive and exportfs start, and brings ds04's client in from its journal
      let mark = w.lines.length;
      c.serve("ds04", []);
      c.ok("ds04", ["record", "--hosting", "vm1"]);
      expect(c.rmtab("ds04")).toBe("");
      c.umount("ds04", "g1");
      c.mount("ds03", "g1");
      c.serve("ds03", ["vm0", "vm1"]);
      await until("ds03's rmtab to get ds04's client of vm1", () => c.rmtab("ds03").split("\n").includes(line("10.0.0.31", "/srv/vm1")));
      expect(c.rmtab("ds03").split("\n").filter(Boolean).sort()).toEqual([line("10.0.0.21", "/srv/vm0"), line("10.0.0.31", "/srv/vm1")].sort());
      await w.waitFor(/^<6>cleared: group g1: .* is not here/, { from: mark });

      // a client unmounts vm1 on ds03: journaled into g1's volume (ds03's own journal there, created at the takeover)
      c.mountd("ds03", "umount", "10.0.0.31", "/srv/vm1");
      await until("ds03's umount in g1's journal", () => events(c, "ds03", "g1", "ds03").join() === "umount 10.0.0.31 /srv/vm1 0");
      c.mountd("ds03", "mount", "10.0.0.32", "/srv/vm1");
      await until("ds03's mount in g1's journal", () => events(c, "ds03", "g1", "ds03").length === 2);

      // between pieces of work the daemon holds no file of the group's volume open (the Filesystem stop could not unmount it)
      const open = () =>
        readdirSync(`/proc/${w.child.pid}/fd`).flatMap((fd) => {
          try {
            return [readlinkSync(`/proc/${w.child.pid}/fd/${fd}`)];
          } catch {
            return [];
          }
        });
      await until("no open file on g1's volume", () => !open().some((f) => f.startsWith(c.ctl("ds03", "g1"))));

      // g1 leaves ds03 with nothing run but exportfs stop and the unmount: its lines leave ds03's rmtab
      mark = w.lines.length;
      c.serve("ds03", ["vm0"]);
      c.umount("ds03", "g1");
      await until("vm1's lines to leave ds03's rmtab", () => c.rmtab("ds03") === `${line("10.0.0.21", "/srv/vm0")}\n`);
      await w.waitFor(/^<6>group g1: not here: control directory .* does not exist here/, { from: mark });
      expect(w.lines.slice(mark).join("\n")).not.toMatch(/^<[0-3]>/m);
    } finally {
      expect(await w.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
