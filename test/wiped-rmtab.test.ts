// An rmtab found empty while it held lines of exports exported here: a wiped
// or replaced file (a cleanup script, a re-created /var/lib/nfs) is not every
// client unmounting. record holds those umounts back and reconcile writes the
// lines back; --accept-empty journals them. Real journals, the CLI, mountd's
// own line changes (test/helpers/mountd_sim.py).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { line, started, TestCluster } from "./helpers/cluster.js";

/** ds03 exports vm0 with three recorded mounts, ds04 folded them. */
function threeMounts(): TestCluster {
  const c = started();
  for (const h of ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) c.mountd("ds03", "mount", h, "/srv/vm0");
  c.ok("ds03", ["record"]);
  c.ok("ds04", ["reconcile"]);
  return c;
}

const vm0 = ["10.0.0.1", "10.0.0.2", "10.0.0.3"].map((h) => line(h, "/srv/vm0"));

describe("an rmtab found empty", () => {
  it("wiped: record journals no umount, warns naming rmtab, and reconcile writes the lines back", () => {
    const c = threeMounts();
    c.writeRmtab("ds03", "");
    const r = c.run("ds03", ["record"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/rmtab is empty, but it held 3 lines of exports exported here: taken for a wiped or replaced file/);
    expect(r.stderr).toContain("rmtabsync record --accept-empty");
    expect(r.stdout).toMatch(/^not recorded: 10\.0\.0\.1 \/srv\/vm0 \(rmtab is empty but held 3 lines/m);
    // no umount in any journal: the peer still has the three mounts
    expect(c.json<{ recorded: unknown[] }>("ds04", ["reconcile"]).recorded).toEqual([]);
    expect(c.lines("ds04")).toEqual(vm0);
    const back = c.json<{ added: { client: string }[]; written: boolean }>("ds03", ["reconcile"]);
    expect(back.written).toBe(true);
    expect(back.added.map((a) => a.client).sort()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
    expect(c.lines("ds03")).toEqual(vm0);
  });

  it("a missing rmtab is the same as an empty one", () => {
    const c = threeMounts();
    rmSync(join(c.stateDir("ds03"), "rmtab"));
    expect(c.json<{ recorded: unknown[]; ignored: unknown[] }>("ds03", ["record"])).toMatchObject({ recorded: [], ignored: expect.arrayContaining([expect.objectContaining({ client: "10.0.0.2" })]) });
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual(vm0);
  });

  it("a reconcile that finds rmtab wiped restores it in the same run", () => {
    const c = threeMounts();
    c.writeRmtab("ds03", "");
    const r = c.json<{ recorded: unknown[]; written: boolean }>("ds03", ["reconcile"]);
    expect(r.recorded).toEqual([]);
    expect(r.written).toBe(true);
    expect(c.lines("ds03")).toEqual(vm0);
  });

  it("--accept-empty: every client did unmount, the umounts are journaled and reach the peer", () => {
    const c = threeMounts();
    c.writeRmtab("ds03", "");
    const r = c.json<{ recorded: { op: string }[] }>("ds03", ["record", "--accept-empty"]);
    expect(r.recorded.map((e) => e.op)).toEqual(["umount", "umount", "umount"]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([]);
    c.ok("ds03", ["reconcile"]);
    expect(c.lines("ds03")).toEqual([]);
  });

  it("one client's UMNTALL that leaves rmtab empty is recorded: mountd drops one client's lines at once", () => {
    const c = started();
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds03", "mount", "10.0.0.1", "/srv/vm0/images");
    c.ok("ds03", ["record"]);
    c.mountd("ds03", "umountall", "10.0.0.1");
    expect(c.rmtab("ds03")).toBe("");
    expect(c.json<{ recorded: { op: string }[] }>("ds03", ["record"]).recorded.map((e) => e.op)).toEqual(["umount", "umount"]);
  });

  it("mountd's own umounts, one by one, are recorded; so is a single line gone from an rmtab left empty", () => {
    const c = threeMounts();
    c.mountd("ds03", "umount", "10.0.0.1", "/srv/vm0");
    c.mountd("ds03", "umount", "10.0.0.2", "/srv/vm0");
    expect(c.json<{ recorded: { op: string }[] }>("ds03", ["record"]).recorded.map((e) => e.op)).toEqual(["umount", "umount"]);
    // the last client: one line gone, as likely an UMNT as a wipe
    c.mountd("ds03", "umount", "10.0.0.3", "/srv/vm0");
    expect(c.rmtab("ds03")).toBe("");
    expect(c.json<{ recorded: { client: string; op: string }[] }>("ds03", ["record"]).recorded).toMatchObject([{ client: "10.0.0.3", op: "umount" }]);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual([]);
  });

  it("lines of an export not exported here are not its concern (the takeover's rule)", () => {
    const c = threeMounts();
    // ds04 holds vm0's lines (pre-populated) without exporting vm0: emptied, nothing to hold back or record
    expect(c.lines("ds04")).toEqual(vm0);
    c.writeRmtab("ds04", "");
    const r = c.run("ds04", ["record"]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/rmtab is empty/);
    c.ok("ds04", ["reconcile"]);
    expect(c.lines("ds04")).toEqual(vm0);
  });
});
