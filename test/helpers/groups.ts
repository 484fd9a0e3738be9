// Two nodes with export groups (issue 11). A node's mount of a group's
// volume is a directory of its own (<root>/nodes/<node>/ctl/<group>); DRBD
// is simulated by moving it between nodes (a clean failover) or copying it
// (the survivor's replica after a crash, or each side's copy in a
// split-brain).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, renameSync } from "node:fs";
import { dirname, join } from "node:path";
import { TestCluster, type ExportSpec } from "./cluster.js";

export interface GroupSpec {
  name: string;
  exports: string[];
}

/** Two nodes, export groups with a control directory per node mount, optionally the shared control directory too. */
export class GroupCluster extends TestCluster {
  groups: GroupSpec[] = [];
  shared = false;

  static make(groups: GroupSpec[], exports: ExportSpec[], opts: { shared?: boolean } = {}): GroupCluster {
    const c = new GroupCluster(["ds03", "ds04"], exports);
    c.groups = groups;
    c.shared = !!opts.shared;
    c.writeConfigs();
    return c;
  }

  /** Where `node` mounts the group's volume. */
  ctl(node: string, group: string): string {
    return join(this.root, "nodes", node, "ctl", group);
  }

  /** The group's volume while no node has it mounted. */
  dev(group: string): string {
    return join(this.root, "drbd", group);
  }

  override configText(node: string): string {
    if (!this.groups) return super.configText(node);
    const ex = this.exports.map((e) => `  - name: ${e.name}\n    path: ${e.path}\n${e.nodes ? `    nodes: [${e.nodes.join(", ")}]\n` : ""}`).join("");
    const gs = this.groups
      .map((g) => `  - name: ${g.name}\n    controlDir: ${this.ctl(node, g.name)}\n    controlDirIsMountpoint: false\n    exports: [${g.exports.join(", ")}]\n`)
      .join("");
    const shared = this.shared ? `controlDir: ${this.control}\ncontrolDirIsMountpoint: false\n` : "";
    return `cluster: ${this.cluster}\n${shared}stateDir: ${this.stateDir(node)}\nnodes: [${this.nodes.join(", ")}]\nexports:\n${ex}groups:\n${gs}`;
  }

  /** A new, empty volume for the group, mounted on `node` (then `init` there creates its marker). */
  create(node: string, group: string): void {
    mkdirSync(this.ctl(node, group), { recursive: true });
  }

  mount(node: string, group: string): void {
    mkdirSync(dirname(this.ctl(node, group)), { recursive: true });
    renameSync(this.dev(group), this.ctl(node, group));
  }

  umount(node: string, group: string): void {
    mkdirSync(dirname(this.dev(group)), { recursive: true });
    renameSync(this.ctl(node, group), this.dev(group));
  }

  /** Sets what the node exports (its etab) by export name. */
  serve(node: string, names: string[]): void {
    this.etab(node, names.map((n) => this.exports.find((e) => e.name === n)!.path));
  }

  /**
   * A clean move of the group, in Pacemaker's order: on `from` exportfs stops,
   * rmtabsync stops (record --hosting), the Filesystem stops; on `to` the
   * Filesystem starts, rmtabsync starts (reconcile --hosting), exportfs starts.
   */
  move(group: string, from: string, to: string, served: { from: string[]; to: string[] }, exportfs = (node: string, names: string[]) => this.serve(node, names)): void {
    const names = this.groups.find((g) => g.name === group)!.exports;
    exportfs(from, served.from);
    this.ok(from, ["record", ...names.flatMap((n) => ["--hosting", n])]);
    this.umount(from, group);
    this.mount(to, group);
    this.ok(to, ["reconcile", ...names.flatMap((n) => ["--hosting", n])]);
    exportfs(to, served.to);
  }
}

/** ds03 serves g0 (vm0), ds04 serves g1 (vm1); each group's volume initialised where it runs. */
export function twoGroups(): GroupCluster {
  const c = GroupCluster.make(
    [
      { name: "g0", exports: ["vm0"] },
      { name: "g1", exports: ["vm1"] },
    ],
    [
      { name: "vm0", path: "/srv/vm0" },
      { name: "vm1", path: "/srv/vm1" },
    ],
  );
  c.create("ds03", "g0");
  c.create("ds04", "g1");
  c.ok("ds03", ["init"]);
  c.ok("ds04", ["init"]);
  c.serve("ds03", ["vm0"]);
  c.serve("ds04", ["vm1"]);
  return c;
}

/**
 * ds03 serves both groups; g1's volume is a real tmpfs (so a test can
 * remount it read-only), pushed onto `mounts` for the caller to unmount.
 */
export function bothGroupsOnDs03(mounts: string[]): GroupCluster {
  const c = GroupCluster.make(
    [
      { name: "g0", exports: ["vm0"] },
      { name: "g1", exports: ["vm1"] },
    ],
    [
      { name: "vm0", path: "/srv/vm0" },
      { name: "vm1", path: "/srv/vm1" },
    ],
  );
  c.create("ds03", "g0");
  const g1 = c.ctl("ds03", "g1");
  mkdirSync(g1, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0755", "rmtabsync-test", g1]);
  mounts.push(g1);
  c.ok("ds03", ["init"]);
  c.serve("ds03", ["vm0", "vm1"]);
  return c;
}

/**
 * Remounts a tmpfs volume read-only while a daemon may be using it: the
 * kernel refuses ("mount point is busy") while a file there is open for
 * writing, which a record or reconcile in flight does for milliseconds.
 */
export async function remountReadOnly(dir: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    const r = spawnSync("mount", ["-o", "remount,ro", dir], { encoding: "utf8" });
    if (r.status === 0) return;
    if (tries >= 50 || !/busy/.test(r.stderr)) throw new Error(`mount -o remount,ro ${dir}: ${r.stderr.trim()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}
