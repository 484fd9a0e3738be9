// Node facts: real file formats in, unknown stays unknown; collected and
// published by the real CLI from a prepared tree (config `system:` paths),
// including an ext4 image made by mkfs.ext4 whose UUID blkid reads.
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseExportsFile } from "../src/core/exports-file.js";
import { mountOf, parseBlkidExport, parseMountinfo } from "../src/core/mountinfo.js";
import { emptyNfsConf, parseNfsConf } from "../src/core/nfs-conf.js";
import { parseNfsdStates } from "../src/core/nfsd-states.js";
import { parseProcExports } from "../src/core/proc-exports.js";
import { CLI, TestCluster } from "./helpers/cluster.js";
import { nfsVersions, ownScope, known, unknown, type Read } from "../src/core/facts.js";
import { findCommand } from "../src/io/facts.js";
import { fixture, nodeFacts, RPC_NFSD_DEBIAN12, RPC_NFSD_SCOPE } from "./helpers/facts.js";

describe("fact parsers (real formats)", () => {
  it("nfs.conf: sections, comments, later files win", () => {
    const c = parseNfsConf(fixture("nfs.conf"), "/etc/nfs.conf");
    expect(c.values.get("nfsd.scope")).toBe("nfs.example.org");
    expect(c.values.get("mountd.port")).toBe("20048");
    expect(c.values.has("nfsd.grace-time")).toBe(false); // commented out
    parseNfsConf('[NFSD]\n Scope = "vip.example.org" ; comment\nbad line\n', "/etc/nfs.conf.d/50.conf", c);
    expect(c.values.get("nfsd.scope")).toBe("vip.example.org");
    expect(c.origin.get("nfsd.scope")).toBe("/etc/nfs.conf.d/50.conf line 2");
    expect(c.problems.map((p) => `${p.line} ${p.problem}`)).toEqual(["3 expected [section] or key = value"]);
    expect(parseNfsConf(fixture("nfs.conf.default"), "x", emptyNfsConf()).values.has("mountd.port")).toBe(false);
  });

  it("rpc.nfsd: [nfsd] scope support read from the binary (Debian 12's nfs-utils 2.6.2 has none)", () => {
    expect(findCommand("rpc.nfsd", "")).toBe(RPC_NFSD_DEBIAN12); // not on PATH: /usr/sbin
    expect(findCommand("no-such-tool", "/usr/bin")).toEqual({ reason: "no-such-tool not found on PATH, in /usr/sbin or /sbin (no nfs-kernel-server/nfs-utils installed?)" });
    const deb = nodeFacts({ rpcNfsd: RPC_NFSD_DEBIAN12 });
    expect(deb.nfsdScopeSupport).toEqual({ value: false, source: "/usr/sbin/rpc.nfsd has no scope support (nfs-utils before 2.6.3)" });
    expect(deb.scope.configured).toEqual({ value: "nfs.example.org", source: "/etc/nfs.conf line 30" });
    expect(deb.scope.effective).toEqual({ value: "ds03", source: "hostname: [nfsd] scope in /etc/nfs.conf line 30 is ignored (no scope support before nfs-utils 2.6.3)" });
    expect(nodeFacts({ rpcNfsd: RPC_NFSD_SCOPE }).scope.effective).toEqual({ value: "nfs.example.org", source: "/etc/nfs.conf line 30" });
    expect(nodeFacts({ rpcNfsd: "/nonexistent/rpc.nfsd" }).nfsdScopeSupport).toEqual({ value: null, reason: "cannot read /nonexistent/rpc.nfsd (ENOENT)" });
    // facts from before nfsdScopeSupport existed: a configured scope is of unknown effect
    const configured = known("nfs-lab", "/etc/nfs.conf line 2");
    expect(ownScope("ds03", configured, undefined).scope).toEqual({
      value: null,
      reason: "[nfsd] scope=nfs-lab in /etc/nfs.conf line 2, but whether rpc.nfsd reads it is unknown (facts from an older rmtabsync)",
    });
    expect(ownScope("ds03", unknown("no [nfsd] scope in /etc/nfs.conf"), undefined).scope.value).toBe("ds03");
  });

  it("NFS versions: /proc/fs/nfsd/versions while nfsd runs, else nfs.conf as rpc.nfsd applies it", () => {
    const conf = (t: string) => parseNfsConf(t, "/etc/nfs.conf");
    const v = (t: string): Read => ({ file: "/proc/fs/nfsd/versions", text: t });
    const threads = (t: string | null): Read => (t === null ? { file: "/proc/fs/nfsd/threads", reason: "/proc/fs/nfsd/threads does not exist", missing: true } : { file: "/proc/fs/nfsd/threads", text: t });
    const none: Read = { file: "/proc/fs/nfsd/versions", reason: "/proc/fs/nfsd/versions does not exist", missing: true };
    expect(nfsVersions(v("-2 +3 +4 +4.1 +4.2\n"), threads("8\n"), conf(""), "/etc/nfs.conf")).toEqual({ value: ["3", "4", "4.1", "4.2"], source: "/proc/fs/nfsd/versions" });
    expect(nfsVersions(v("-2 +3 -4 -4.0 -4.1 -4.2\n"), threads("8\n"), conf(""), "/etc/nfs.conf").value).toEqual(["3"]);
    expect(nfsVersions(v("-2 +3 +4 +4.0 -4.1 -4.2\n"), threads("8\n"), conf(""), "/etc/nfs.conf").value).toEqual(["3", "4", "4.0"]);
    expect(nfsVersions(v("garbage"), threads("8\n"), conf(""), "/etc/nfs.conf").value).toBeNull();
    // nfsd stopped (the file shows the kernel's defaults) or not mounted: what rpc.nfsd will write from nfs.conf
    expect(nfsVersions(v("-2 +3 +4 +4.1 +4.2\n"), threads("0\n"), conf("[nfsd]\nvers4=n\n"), "/etc/nfs.conf")).toEqual({
      value: ["3"],
      source: "[nfsd] vers4 in /etc/nfs.conf; nfsd not running (/proc/fs/nfsd/threads is 0)",
    });
    expect(nfsVersions(none, threads(null), conf(""), "/etc/nfs.conf")).toEqual({
      value: ["3", "4", "4.1", "4.2"],
      source: "defaults (no [nfsd] vers4 in /etc/nfs.conf); /proc/fs/nfsd/versions does not exist",
    });
    // vers4=n turns the minor versions off unless one is set on by name; booleans as nfs-utils reads them
    expect(nfsVersions(none, threads(null), conf("[nfsd]\nvers4 = no\nvers4.1 = On\n"), "/etc/nfs.conf").value).toEqual(["3", "4", "4.1"]);
    expect(nfsVersions(none, threads(null), conf("[nfsd]\nvers4.1=n\nvers4.2=false\nvers3=maybe\n"), "/etc/nfs.conf").value).toEqual(["3", "4"]);
  });

  it("/etc/exports: continuation lines, quoted paths, comments", () => {
    expect(parseExportsFile(fixture("exports"), "/etc/exports").map((l) => `${l.line} ${l.path}`)).toEqual([
      "4 /home/export",
      "5 /srv/vm0",
      '7 /srv/vm1/with space',
    ]);
  });

  it("/proc/net/rpc/nfsd.export/content: fsid or uuid in force; negative entries have none", () => {
    expect(parseProcExports(fixture("nfsd.export.content")).map((e) => [e.path, e.fsid, e.uuid])).toEqual([
      ["/srv/vm0", "11", null],
      ["/srv/vm1", null, "0e4d2a8c:61f04d5e:8c6b7a9f:1e2d3c4b"],
      ["/srv/old", null, null],
    ]);
  });

  it("/proc/fs/nfsd/clients/*/states: type and superblock device (hex major:minor)", () => {
    expect(parseNfsdStates(fixture("states")).map((s) => `${s.type} ${s.device}`)).toEqual(["open 147:10", "lock 147:10", "deleg 147:10", "open 147:11"]);
  });

  it("mountinfo and blkid -o export", () => {
    const m = parseMountinfo(fixture("mountinfo"));
    expect(mountOf(m, "/srv/vm0/images")).toMatchObject({ mountPoint: "/srv/vm0", device: "147:10", fsType: "ext4", source: "/dev/drbd10" });
    expect(mountOf(m, "/srv/vm00")?.mountPoint).toBe("/");
    expect(mountOf(m, "/srv/shared/b")?.fsType).toBe("xfs");
    const b = parseBlkidExport("DEVNAME=/dev/drbd10\nUUID=abc\nBLOCK_SIZE=4096\nTYPE=ext4\n\nDEVNAME=/dev/drbd11\nTYPE=xfs\n");
    expect(b.get("/dev/drbd10")?.UUID).toBe("abc");
    expect(b.get("/dev/drbd11")?.UUID).toBeUndefined();
  });

  it("the kernel's fsid wins over etab's; unknown values carry a reason", () => {
    const f = nodeFacts({ proc: fixture("nfsd.export.content"), lease: null, nfsConf: fixture("nfs.conf.default") });
    expect(f.exports.vm0!.fsid).toEqual({ value: "11", source: "/proc/net/rpc/nfsd.export/content" });
    expect(f.exports.vm1!.fsid.value).toBe("uuid:0e4d2a8c:61f04d5e:8c6b7a9f:1e2d3c4b");
    expect(f.exports.sha!.fsid).toEqual({ value: null, reason: "not exported on this node now" });
    expect(f.leaseTime).toEqual({ value: null, reason: "/proc/fs/nfsd/nfsv4leasetime does not exist" });
    expect(f.ports.mountd.value).toBeNull();
    expect(f.scope.configured).toEqual({ value: null, reason: "no [nfsd] scope in /etc/nfs.conf" });
    expect(f.scope.effective).toEqual({ value: "ds03", source: "hostname (knfsd default)" });
    expect(f.nfsdcld).toEqual({
      value: { dir: "/var/lib/nfs/nfsdcld", mount: { mountPoint: "/", type: "ext4", device: "254:1", source: "/dev/vda1" } },
      source: "nfsdcld default (no [nfsdcld] storagedir in /etc/nfs.conf)",
    });
    const cld = nodeFacts({ nfsConf: "[nfsdcld]\nstoragedir = /srv/vm0/.nfsdcld\n" }).nfsdcld;
    expect(cld).toEqual({
      value: { dir: "/srv/vm0/.nfsdcld", mount: { mountPoint: "/srv/vm0", type: "ext4", device: "147:10", source: "/dev/drbd10" } },
      source: "/etc/nfs.conf line 2 (nfsdcld.storagedir)",
    });
    const noEtab = nodeFacts({ etab: null, proc: null });
    expect(noEtab.exports.vm0!.exported).toEqual({ value: false, source: "/var/lib/nfs/etab" });
  });
});

function prepareTree(root: string, image: string) {
  const sys = join(root, "sys");
  mkdirSync(join(sys, "nfs.conf.d"), { recursive: true });
  mkdirSync(join(sys, "exports.d"), { recursive: true });
  mkdirSync(join(sys, "clients", "7"), { recursive: true });
  mkdirSync(join(sys, "clients", "8"), { recursive: true });
  mkdirSync(join(sys, "wants"), { recursive: true });
  writeFileSync(join(sys, "nfs.conf"), fixture("nfs.conf"));
  writeFileSync(join(sys, "fh.key"), "secret-key-material\n");
  writeFileSync(join(sys, "nfs.conf.d", "50-cluster.conf"), `[nfsd]\nscope=10.0.0.50\nfh-key-file=${join(sys, "fh.key")}\n`);
  writeFileSync(join(sys, "exports"), fixture("exports"));
  writeFileSync(join(sys, "exports.d", "vm1.exports"), "/srv/vm1 *(rw,fsid=5)\n");
  writeFileSync(join(sys, "content"), fixture("nfsd.export.content"));
  // client 7 holds state on the image's device (7:0 = 07:00), client 8 has none
  writeFileSync(join(sys, "clients", "7", "states"), fixture("states").replaceAll('"93:0a:', '"07:00:'));
  writeFileSync(join(sys, "clients", "8", "states"), "");
  writeFileSync(join(sys, "leasetime"), "90\n");
  writeFileSync(join(sys, "versions"), "-2 +3 +4 +4.1 +4.2\n");
  writeFileSync(join(sys, "threads"), "8\n");
  writeFileSync(join(sys, "mountinfo"), `29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n200 29 7:0 / /srv/vm0 rw,relatime shared:90 - ext4 ${image} rw\n`);
  return {
    nfsConf: join(sys, "nfs.conf"),
    nfsConfDir: join(sys, "nfs.conf.d"),
    exports: join(sys, "exports"),
    exportsDir: join(sys, "exports.d"),
    procExports: join(sys, "content"),
    nfsdClients: join(sys, "clients"),
    nfsdLeaseTime: join(sys, "leasetime"),
    nfsdGraceTime: join(sys, "gracetime"),
    nfsdVersions: join(sys, "versions"),
    nfsdThreads: join(sys, "threads"),
    mountinfo: join(sys, "mountinfo"),
    nfsServerEnabled: join(sys, "wants", "nfs-server.service"),
    rpcNfsd: RPC_NFSD_SCOPE,
  };
}

export function withSystem(c: TestCluster, node: string, sys: Record<string, string>): void {
  writeFileSync(c.configFile(node), `${c.configText(node)}system:\n${Object.entries(sys).map(([k, v]) => `  ${k}: ${v}\n`).join("")}`);
}

describe("facts collected by record and shown by show --facts", () => {
  it("reads a prepared tree and an ext4 image's UUID via blkid; a new version only when something changed", () => {
    const c = new TestCluster();
    const img = join(c.root, "vm0.img");
    const uuid = "3f9c1e2a-7b4d-4c8e-9a1f-0d2e3c4b5a69";
    execFileSync("truncate", ["-s", "8M", img]);
    const mk = spawnSync("mkfs.ext4", ["-q", "-F", "-U", uuid, img], { encoding: "utf8" });
    if (mk.error) throw new Error(`mkfs.ext4 is missing: apt-get install e2fsprogs (${mk.error.message})`);
    expect(mk.status).toBe(0);
    const sys = prepareTree(c.root, img);
    for (const n of c.nodes) withSystem(c, n, sys);
    c.initAll();
    c.etab("ds03", ["/srv/vm0"]);
    c.ok("ds03", ["record"]);
    const shown = c.json("ds03", ["show", "--facts"]);
    const me = shown.nodes.find((n: { node: string }) => n.node === "ds03");
    expect(me.version).toBe(1);
    const f = me.facts;
    expect(f.exports.vm0.exported.value).toBe(true);
    expect(f.exports.vm0.fsid).toEqual({ value: "11", source: sys.procExports });
    expect(f.exports.vm0.fs.value).toEqual({ mountPoint: "/srv/vm0", type: "ext4", device: "7:0", source: img, uuid });
    expect(f.exports.vm0.v4State.value).toEqual({ opens: 1, locks: 1, delegations: 1, other: 0 });
    expect(f.exports.vm1.exported.value).toBe(false);
    expect(f.exports.vm1.fs.value.mountPoint).toBe("/");
    expect(f.scope.configured.value).toBe("10.0.0.50");
    expect(f.nfsdScopeSupport).toEqual({ value: true, source: `${RPC_NFSD_SCOPE} reads [nfsd] scope (nfs-utils 2.6.3 or later)` });
    expect(f.scope.effective.value).toBe("10.0.0.50");
    expect(f.nfsVersions).toEqual({ value: ["3", "4", "4.1", "4.2"], source: sys.nfsdVersions });
    expect(f.fhKey.value).toBe(createHash("sha256").update("secret-key-material\n").digest("hex"));
    expect(JSON.stringify(shown)).not.toContain("secret-key-material");
    expect(f.leaseTime.value).toBe(90);
    expect(f.graceTime).toEqual({ value: null, reason: `${sys.nfsdGraceTime} does not exist` });
    expect(f.ports).toMatchObject({ mountd: { value: 20048 }, statd: { value: 32765 }, lockdTcp: { value: 32768 } });
    expect(f.nfsServerEnabled.value).toBe(false);
    expect(f.exportsFile.value.map((l: { file: string; line: number }) => `${l.file}:${l.line}`)).toEqual([`${sys.exports}:5`, `${sys.exports}:7`, `${join(sys.exportsDir, "vm1.exports")}:1`]);
    // ds04 has not recorded yet: show says so
    expect(shown.nodes.find((n: { node: string }) => n.node === "ds04")).toMatchObject({ facts: null, problem: "never published" });

    // unchanged facts: no new version; a change: a new one
    c.ok("ds03", ["record"]);
    c.ok("ds03", ["reconcile"]);
    expect(c.json("ds03", ["show", "--facts"]).nodes[0].version).toBe(1);
    // record and reconcile run at every mount: they collect the facts at once when what a failover moves
    // changed (etab, the kernel's export table, the mounts), the rest at most once a minute
    symlinkSync("/lib/systemd/system/nfs-server.service", sys.nfsServerEnabled);
    const checked = () => c.json("ds03", ["show", "--facts"]).nodes[0].checked as string;
    const before = checked();
    c.ok("ds03", ["record"]);
    expect(c.json("ds03", ["show", "--facts"]).nodes[0]).toMatchObject({ version: 1, checked: before });
    execFileSync("faketime", ["-f", "+2m", process.execPath, CLI, "-c", c.configFile("ds03"), "-n", "ds03", "record"], { stdio: "pipe" });
    const v2 = c.json("ds03", ["show", "--facts"]).nodes[0];
    expect(v2.version).toBe(2);
    expect(v2.facts.nfsServerEnabled.value).toBe(true);
    expect(Date.parse(v2.checked)).toBeGreaterThan(Date.parse(before) + 60_000);
    // within the minute again (the clock back to now): a mount moved, and so did the export's fsid
    writeFileSync(sys.mountinfo, `29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n`);
    c.ok("ds03", ["record"]);
    const v3 = c.json("ds03", ["show", "--facts"]).nodes[0];
    expect(v3.version).toBe(3);
    expect(v3.facts.exports.vm0.fs.value.mountPoint).toBe("/");
    writeFileSync(sys.mountinfo, `29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n200 29 7:0 / /srv/vm0 rw,relatime shared:90 - ext4 ${img} rw\n`);
    c.etab("ds03", []);
    c.ok("ds03", ["reconcile"]);
    const v4 = c.json("ds03", ["show", "--facts"]).nodes[0];
    expect(v4.version).toBe(4);
    expect(v4.facts.exports.vm0.exported.value).toBe(false);
    c.etab("ds03", ["/srv/vm0"]);
    c.ok("ds03", ["record"]);
    const v5 = c.json("ds03", ["show", "--facts"]).nodes[0];
    expect(v5.version).toBe(5);
    expect(v5.facts.exports.vm0.exported.value).toBe(true);

    const text = c.ok("ds04", ["show", "--facts"]).stdout;
    expect(text).toContain("node ds03 (facts v5");
    expect(text).toContain("; nfsd scope 10.0.0.50; NFS versions 3 4 4.1 4.2\n");
    expect(text).toMatch(/vm0\s+yes\s+11\s+ext4\s+7:0\s+3f9c1e2a-7b4d-4c8e-9a1f-0d2e3c4b5a69\s+1o\/1l\/1d/);
    expect(text).toContain("node ds04: no facts (never published)");
    // offline, like show: from a copy of the control volume
    const copy = join(c.root, "copy");
    execFileSync("cp", ["-a", c.control, copy]);
    const off = c.json("ds04", ["show", "--facts", "--control-dir", copy]);
    expect(off.nodes[0].facts).toEqual(v5.facts);
  });

  it("config: system paths are validated like every other key", () => {
    const c = new TestCluster();
    writeFileSync(c.configFile("ds03"), `${c.configText("ds03")}system:\n  nfsConf: relative/nfs.conf\n  bogus: /x\n`);
    const r = c.run("ds03", ["show"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('system.nfsConf: expected an absolute path without \':\' or newlines, found "relative/nfs.conf"');
    expect(r.stderr).toContain("system.bogus: unknown key (expected one of nfsConf, nfsConfDir");
  });
});
