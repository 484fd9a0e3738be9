// The control volume must be the one init saw: a mount point (unless the
// config allows a plain directory), with the marker id and filesystem that
// init recorded in <stateDir>/rmtabsync.volume. An old copy underneath an
// unmounted volume is never written to, and a local baseline written into
// one never hides a change from the real volume.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { line, TestCluster, started } from "./helpers/cluster.js";

type Row = { client: string; path: string; count: number };

function table(c: TestCluster, node = "ds03"): string[] {
  return c.json<{ mounts: Row[] }>(node, ["show"]).mounts.map((r) => `${r.client} ${r.path} ${r.count}`).sort();
}

function markerFile(dir: string): string {
  return join(dir, "rmtabsync.cluster");
}

/** A copy of the control volume as it is now, whose marker has another id (as an init run on the plain directory would write). */
function staleCopy(c: TestCluster, name: string): string {
  const dir = join(c.root, name);
  cpSync(c.control, dir, { recursive: true });
  const m = JSON.parse(readFileSync(markerFile(dir), "utf8"));
  writeFileSync(markerFile(dir), JSON.stringify({ ...m, id: "00000000-0000-4000-8000-000000000000" }));
  return dir;
}

/** Puts `dir` where the control volume is; returns where the real one went. */
function swapIn(c: TestCluster, dir: string, aside: string): void {
  renameSync(c.control, aside);
  renameSync(dir, c.control);
}

describe("control volume identity", () => {
  it("init records the marker id in the node's state directory, not on the volume", () => {
    const c = started();
    const marker = JSON.parse(readFileSync(markerFile(c.control), "utf8"));
    expect(marker.id).toMatch(/^[0-9a-f-]{36}$/);
    const rec = JSON.parse(readFileSync(join(c.stateDir("ds03"), "rmtabsync.volume"), "utf8"));
    expect(rec.volumes[c.control]).toMatchObject({ markerId: marker.id, mountpoint: false });
    expect(rec.volumes[c.control].dev).toMatch(/^\d+:\d+$/);
    expect(c.json("ds04", ["init"]).markerId).toBe(marker.id);
  });

  it("record and reconcile refuse (3) a control directory holding another marker than init recorded", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    const stale = staleCopy(c, "underneath");
    const real = join(c.root, "real");
    swapIn(c, stale, real);
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    const before = c.rmtab("ds03");
    const ownJournal = readFileSync(join(c.control, "journals", "ds03.sqlite"));
    for (const cmd of ["record", "reconcile"]) {
      const r = c.run("ds03", [cmd]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/marker .*rmtabsync\.cluster has id 00000000-0000-4000-8000-000000000000, but this node was initialised on marker [0-9a-f-]{36} \(.*rmtabsync\.volume\)/);
    }
    expect(c.rmtab("ds03")).toBe(before);
    expect(readFileSync(join(c.control, "journals", "ds03.sqlite")).equals(ownJournal)).toBe(true);
    // init does not adopt the copy either
    const i = c.run("ds03", ["init"]);
    expect(i.code).toBe(3);
    expect(i.stderr).toMatch(/is not the one this node was initialised on/);
    // the real volume is back: the change is recorded there
    renameSync(c.control, stale);
    renameSync(real, c.control);
    c.ok("ds03", ["reconcile"]);
    expect(table(c)).toEqual(["10.0.0.1 /srv/vm0 1", "10.0.0.2 /srv/vm0 1"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm0")]);
  });

  it("a local baseline written into an old copy of the volume never hides a change from the real one", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["reconcile"]);
    c.ok("ds04", ["reconcile"]);
    // a node initialised before volumes were recorded: nothing to check the copy against
    rmSync(join(c.stateDir("ds03"), "rmtabsync.volume"));
    const stale = staleCopy(c, "underneath");
    const real = join(c.root, "real");
    swapIn(c, stale, real);
    c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
    c.ok("ds03", ["record"]); // lands in the copy, and in the local baseline
    renameSync(c.control, stale);
    renameSync(real, c.control);
    // the real volume never saw 10.0.0.2: it is recorded now, not skipped and then removed
    c.ok("ds03", ["reconcile"]);
    expect(table(c, "ds04")).toEqual(["10.0.0.1 /srv/vm0 1", "10.0.0.2 /srv/vm0 1"]);
    expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm0")]);
  });

  it("accepts an old marker without id and gives it one at the next init", () => {
    const c = started();
    writeFileSync(markerFile(c.control), JSON.stringify({ cluster: "test", format: 1, created: "2026-01-01T00:00:00.000Z" }));
    for (const n of c.nodes) rmSync(join(c.stateDir(n), "rmtabsync.volume"));
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    const i = c.json("ds03", ["init"]);
    const marker = JSON.parse(readFileSync(markerFile(c.control), "utf8"));
    expect(marker).toMatchObject({ cluster: "test", created: "2026-01-01T00:00:00.000Z" });
    expect(i.markerId).toBe(marker.id);
    c.ok("ds04", ["init"]);
    c.ok("ds04", ["reconcile"]);
    expect(table(c, "ds04")).toEqual(["10.0.0.1 /srv/vm0 1"]);
  });

  it("by default, init refuses a control directory that is not a mount point unless --force", () => {
    const c = new TestCluster();
    c.configure({ controlIsMountpoint: true });
    const r = c.run("ds03", ["init"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`control directory ${c.control} is not a mount point: mount the control volume on ${c.control} first`);
    expect(existsSync(markerFile(c.control))).toBe(false);
    const rec = c.run("ds03", ["record"]);
    expect(rec.code).toBe(3);
    expect(rec.stderr).toContain(`control directory ${c.control} is not a mount point`);
    // --force: this node accepted the plain directory and may use it
    c.ok("ds03", ["init", "--force"]);
    c.etab("ds03", ["/srv/vm0"]);
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.ok("ds03", ["record"]);
    // the other node did not
    expect(c.run("ds04", ["init"]).code).toBe(3);
    expect(c.run("ds04", ["reconcile"]).code).toBe(3);
    // the explicit opt-out restores the plain-directory behaviour
    c.configure({ controlIsMountpoint: false });
    c.ok("ds04", ["init"]);
    c.ok("ds04", ["reconcile"]);
    expect(table(c, "ds04")).toEqual(["10.0.0.1 /srv/vm0 1"]);
  });
});

function canMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = join(new TestCluster().root, "probe");
  mkdirSync(probe);
  const r = spawnSync("mount", ["-t", "tmpfs", "tmpfs", probe]);
  if (r.status !== 0) return false;
  spawnSync("umount", [probe]);
  return true;
}

describe.runIf(canMount())("control volume on a real mount point (root: tmpfs)", () => {
  it("works mounted, refuses the old copy underneath and another filesystem with a copy of it", () => {
    const c = new TestCluster();
    c.configure({ controlIsMountpoint: true });
    const mounted: string[] = [];
    const mount = () => {
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", c.control]);
      mounted.push(c.control);
    };
    const umount = () => {
      execFileSync("umount", [c.control]);
      mounted.splice(mounted.lastIndexOf(c.control), 1);
    };
    try {
      mount();
      c.initAll();
      c.etab("ds03", ["/srv/vm0"]);
      c.etab("ds04", ["/srv/vm1"]);
      c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
      c.ok("ds03", ["reconcile"]);
      c.ok("ds04", ["reconcile"]);
      expect(c.lines("ds04")).toEqual([line("10.0.0.1", "/srv/vm0")]);
      // the volume goes away; an old copy of it (same marker id) lies underneath
      const saved = join(c.root, "saved");
      cpSync(c.control, saved, { recursive: true });
      umount();
      cpSync(saved, c.control, { recursive: true });
      c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
      const r = c.run("ds03", ["record"]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`control directory ${c.control} is not a mount point: is the control volume mounted there?`);
      expect(c.run("ds03", ["init"]).code).toBe(3);
      // another filesystem mounted there with the same content: refused too (a filler takes the
      // anonymous device number the first tmpfs freed, so the new one gets another)
      const filler = join(c.root, "filler");
      mkdirSync(filler);
      execFileSync("mount", ["-t", "tmpfs", "tmpfs", filler]);
      mounted.push(filler);
      mount();
      cpSync(saved, c.control, { recursive: true });
      const other = c.run("ds03", ["record"]);
      expect(other.code).toBe(3);
      expect(other.stderr).toMatch(/is on another filesystem \(device \d+:\d+, a mount point\) than the one this node was initialised on/);
      // the administrator says it is the volume now
      c.ok("ds03", ["init", "--force"]);
      c.ok("ds03", ["reconcile"]);
      expect(c.lines("ds03")).toEqual([line("10.0.0.1", "/srv/vm0"), line("10.0.0.2", "/srv/vm0")]);
      expect(readdirSync(join(c.control, "journals")).sort()).toEqual(["ds03.sqlite", "ds04.sqlite"]);
    } finally {
      for (const d of mounted.reverse()) spawnSync("umount", [d]);
    }
  });
});
