// A control volume this node cannot write, and a peer journal that is a
// directory: every command names the journal and says what is wrong, and
// status is CRITICAL with a stable id. Tests run as root, which ignores file
// modes, so the volume is a real tmpfs remounted read-only (and a file made
// immutable with chattr +i).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TestCluster } from "./helpers/cluster.js";

const mounts: string[] = [];
const immutable: string[] = [];
afterAll(() => {
  for (const f of immutable) spawnSync("chattr", ["-i", f]);
  for (const m of mounts) spawnSync("umount", [m]);
});

/** A cluster whose control directory is its own tmpfs, with one recorded mount on ds03. */
function clusterOnTmpfs(): { c: TestCluster; mnt: string } {
  const c = new TestCluster();
  const mnt = join(c.root, "ctl");
  mkdirSync(mnt);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m,mode=0755", "rmtabsync-test", mnt]);
  mounts.push(mnt);
  c.configure({ control: mnt });
  c.initAll();
  c.etab("ds03", ["/srv/vm0"]);
  c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
  c.ok("ds03", ["reconcile"]);
  c.mountd("ds03", "mount", "10.0.0.2", "/srv/vm0");
  return { c, mnt };
}

describe("an unwritable control volume", () => {
  it("record, reconcile and forget name this node's journal; status is CRITICAL own-journal-readonly", () => {
    const { c, mnt } = clusterOnTmpfs();
    const journal = join(mnt, "journals/ds03.sqlite");
    // a writable volume: no such finding (the close case)
    expect(c.json("ds03", ["status"]).findings.map((f: { id: string }) => f.id)).not.toContain("own-journal-readonly");

    execFileSync("mount", ["-o", "remount,ro", mnt]);
    for (const args of [["record"], ["reconcile"], ["forget", "--client", "10.0.0.1"]]) {
      const r = c.run("ds03", args);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stderr, args.join(" ")).toContain(`journal ${journal}: cannot be written: it is on a read-only file system`);
      expect(r.stderr).not.toMatch(/attempt to write a readonly database/);
    }
    const st = c.run("ds03", ["status"]);
    expect(st.code).toBe(2);
    expect(st.stdout).toMatch(/^rmtabsync CRITICAL: .*ds03\.sqlite cannot be written/);
    const j = JSON.parse(c.run("ds03", ["status", "--json"]).stdout);
    expect(j.state).toBe("CRITICAL");
    expect(j.findings[0].id).toBe("own-journal-readonly");
    // show and log only read: they still work
    expect(c.json("ds03", ["show"]).mounts).toHaveLength(1);
    execFileSync("mount", ["-o", "remount,rw", mnt]);
    expect(c.json("ds03", ["status"]).findings.map((f: { id: string }) => f.id)).not.toContain("own-journal-readonly");
  });

  it("an immutable journal file (chattr +i) is named the same way", () => {
    const c = new TestCluster();
    c.initAll();
    const journal = join(c.control, "journals/ds03.sqlite");
    const r0 = spawnSync("chattr", ["+i", journal], { encoding: "utf8" });
    if (r0.status !== 0) throw new Error(`chattr +i does not work here: ${r0.stderr} (apt-get install e2fsprogs; needs ext4/xfs and root)`);
    immutable.push(journal);
    const r = c.run("ds03", ["record"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`journal ${journal}: cannot be written: it is not writable (immutable?)`);
    expect(JSON.parse(c.run("ds03", ["status", "--json"]).stdout).findings.map((f: { id: string }) => f.id)).toContain("own-journal-readonly");
    spawnSync("chattr", ["-i", journal]);
    expect(c.run("ds03", ["record"]).code).toBe(0);
  });
});

describe("a peer journal that is a directory", () => {
  it("is named as a directory, not as a disk I/O error", () => {
    const c = new TestCluster();
    c.initAll();
    const peer = join(c.control, "journals/ds04.sqlite");
    rmSync(peer);
    mkdirSync(peer);
    const st = JSON.parse(c.run("ds03", ["status", "--json"]).stdout);
    const finding = st.findings.find((f: { id: string }) => f.id === "journal-unreadable");
    expect(finding.message).toContain(`${peer}: is a directory, not a journal file`);
    const rec = c.run("ds03", ["reconcile"]);
    expect(rec.stderr).toContain("is a directory, not a journal file");
    expect(rec.stderr).not.toMatch(/disk I\/O error/);
    expect(c.run("ds03", ["show"]).stderr).toContain(`${peer}: is a directory, not a journal file`);
  });
});
