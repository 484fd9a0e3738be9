// Export groups against the real Debian daemons: rpcbind, rpc.mountd -F -s
// <node state dir>, exportfs (in a private mount namespace), showmount and a
// real SunRPC UMNT. One mountd per machine: it is restarted on the node
// whose rmtab the test looks at. After every move of a group, showmount -a
// on each node lists exactly the clients of the groups that node serves.
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { GroupCluster } from "./helpers/groups.js";
import { MountdDaemons, exportfs, pinPython3, preflight, showmountAll, showmountExports, umnt, type ExportLine } from "./helpers/mountd-daemon.js";

let base: string;
let c: GroupCluster;
let daemons: MountdDaemons | undefined;
let mountdOn: string | undefined;
let V0: string;
let V1: string;
let setupError: unknown;

const OPTS = "rw,sync,no_subtree_check";

function exportsFor(node: string, names: string[]): void {
  const all: Record<string, ExportLine> = { vm0: { path: V0, options: `${OPTS},fsid=1` }, vm1: { path: V1, options: `${OPTS},fsid=2` } };
  exportfs(join(base, "exportfs", node), c.stateDir(node), names.map((n) => all[n]!));
}

/** showmount -a as the real mountd of `node` answers it. */
async function showmountOn(node: string): Promise<string[]> {
  if (mountdOn !== node) {
    await daemons?.stop();
    daemons = new MountdDaemons(join(base, "daemons", `${node}-${Date.now()}`));
    await daemons.start(c.stateDir(node));
    mountdOn = node;
  }
  return showmountAll();
}

beforeAll(async () => {
  try {
    preflight();
    base = realpathSync(mkdtempSync(join(tmpdir(), "rmtabsync-groups-mountd-")));
    pinPython3(join(base, "bin"));
    V0 = join(base, "srv", "g0", "vm0");
    V1 = join(base, "srv", "g1", "vm1");
    for (const d of [V0, V1]) mkdirSync(d, { recursive: true });
    c = GroupCluster.make(
      [
        { name: "g0", exports: ["vm0"] },
        { name: "g1", exports: ["vm1"] },
      ],
      [
        { name: "vm0", path: V0 },
        { name: "vm1", path: V1 },
      ],
    );
    c.create("ds03", "g0");
    c.create("ds04", "g1");
    c.ok("ds03", ["init"]);
    c.ok("ds04", ["init"]);
    exportsFor("ds03", ["vm0"]);
    exportsFor("ds04", ["vm1"]);
  } catch (err) {
    setupError = err;
  }
}, 60_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await daemons?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("two export groups, each on its own volume, with the real rpc.mountd", () => {
  test("each node's showmount -a lists the clients of the group it serves", async () => {
    c.mountd("ds03", "mount", "10.0.0.1", V0);
    c.mountd("ds03", "mount", "127.0.0.1", V0);
    c.mountd("ds04", "mount", "10.0.1.1", V1);
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    expect(await showmountOn("ds03")).toEqual([`10.0.0.1:${V0}`, `127.0.0.1:${V0}`]);
    expect(await showmountOn("ds04")).toEqual([`10.0.1.1:${V1}`]);
  });

  test("g0 fails over to ds04: ds04 lists g0's and g1's clients, ds03 none; a real UMNT there is journaled into g0's volume", async () => {
    c.move("g0", "ds03", "ds04", { from: [], to: ["vm1", "vm0"] }, exportsFor);
    expect(await showmountOn("ds04")).toEqual([`10.0.0.1:${V0}`, `127.0.0.1:${V0}`, `10.0.1.1:${V1}`].sort());
    expect(showmountExports()).toEqual([V0, V1].sort());
    umnt(V0); // 127.0.0.1 unmounts through ds04's real mountd
    const rec = c.json("ds04", ["record"]);
    const g0 = rec.units.find((u: { unit: string }) => u.unit === "g0");
    expect(g0.recorded.map((e: { op: string; client: string }) => `${e.op} ${e.client}`)).toEqual(["umount 127.0.0.1"]);
    expect(await showmountOn("ds03")).toEqual([]);
  });

  test("g0 fails back to ds03, then g1 follows: every showmount -a is exactly its groups' clients", async () => {
    c.move("g0", "ds04", "ds03", { from: ["vm1"], to: ["vm0"] }, exportsFor);
    expect(await showmountOn("ds04")).toEqual([`10.0.1.1:${V1}`]);
    expect(await showmountOn("ds03")).toEqual([`10.0.0.1:${V0}`]);
    c.move("g1", "ds04", "ds03", { from: [], to: ["vm0", "vm1"] }, exportsFor);
    expect(await showmountOn("ds03")).toEqual([`10.0.0.1:${V0}`, `10.0.1.1:${V1}`].sort());
    expect(await showmountOn("ds04")).toEqual([]);
    daemons!.assertRunning();
  });
});
