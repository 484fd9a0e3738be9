// Each doctor check: a case where it fires and a close case where it does
// not. Facts come from the real parsers fed real-format files; CIBs are the
// complete fixtures in test/fixtures/cib (each accepted by crm_verify).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHECKS } from "../src/core/checks/index.js";
import { startsBefore, cibExports, type Cib } from "../src/core/cib.js";
import { parseCib } from "../src/core/cib-parse.js";
import { runChecks, findingJson, type DoctorInput, type NodeInput } from "../src/core/doctor.js";
import { FACTS_FORMAT, type NodeFacts } from "../src/core/facts.js";
import { asNodeFacts } from "../src/io/facts.js";
import { ROOT } from "./helpers/cluster.js";
import { EXPORTS, HEALTHY_ETAB, RPC_NFSD_DEBIAN12, RPC_NFSD_SCOPE, fixture, nodeFacts, type NodeOpts } from "./helpers/facts.js";

const CIB_DIR = join(ROOT, "test/fixtures/cib");
const cib = (name: string): Cib => parseCib(readFileSync(join(CIB_DIR, `${name}.xml`), "utf8"));
const NOW = 1_795_000_100_000;

function input(nodes: Record<string, NodeFacts | null>, opts: { cib?: string | null; checked?: number } = {}): DoctorInput {
  const list: NodeInput[] = Object.entries(nodes).map(([node, facts]) => ({
    node,
    facts,
    published: facts ? NOW - 1000 : null,
    checked: facts ? (opts.checked ?? NOW - 1000) : null,
    problem: facts ? null : "no journal",
  }));
  return {
    exports: EXPORTS,
    nodes: list,
    self: Object.keys(nodes)[0]!,
    nowMs: NOW,
    maxFactsAgeMs: 3_600_000,
    cib: opts.cib === null ? null : cib(opts.cib ?? "good"),
    cibReason: "no CIB: test",
  };
}

/** Active/active: ds03 exports vm0, ds04 exports vm1 (each export on one node at a time). */
const [ETAB_VM0, ETAB_VM1] = HEALTHY_ETAB.split("\n").map((l) => `${l}\n`) as [string, string];
const healthy = () => ({ ds03: nodeFacts({ etab: ETAB_VM0 }), ds04: nodeFacts({ hostname: "ds04", etab: ETAB_VM1 }) });

function fired(i: DoctorInput, id: string) {
  return runChecks(CHECKS, i).findings.filter((f) => f.check === id);
}

describe("CIB fixtures", () => {
  it("every fixture is a complete CIB that crm_verify accepts", () => {
    const files = readdirSync(CIB_DIR).filter((f) => f.endsWith(".xml"));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const f of files) {
      const r = spawnSync("crm_verify", ["--xml-file", join(CIB_DIR, f)], { encoding: "utf8" });
      if (r.error) throw new Error(`crm_verify is missing: apt-get install pacemaker-cli-utils (${r.error.message})`);
      expect(`${f}: ${r.status} ${r.stderr}`).toBe(`${f}: 0 `);
    }
  });

  it("reads group order, resource-set order and multi-directory fsid ranges", () => {
    const c = cib("good");
    expect(startsBefore(c, "pb_vm0_block", "ip_vm0")).toBe(true);
    expect(startsBefore(c, "ex_vm0", "ip_vm0")).toBe(true);
    expect(startsBefore(c, "ip_vm0", "ex_vm0")).toBe(false);
    expect(startsBefore(c, "rmtabsync_vm1", "ex_shared")).toBe(true);
    expect(startsBefore(c, "ex_vm1", "ip_vm1")).toBe(true);
    expect(startsBefore(c, "ex_vm1", "ex_shared")).toBe(false); // non-sequential set
    expect(cibExports(c).find((e) => e.id === "ex_shared")).toMatchObject({ directories: ["/srv/shared/a", "/srv/shared/b"], fsids: ["20", "21"] });
    const rev = cib("ip-set-first");
    expect(startsBefore(rev, "ip_vm1", "ex_vm1")).toBe(true);
    expect(startsBefore(rev, "ex_vm1", "ip_vm1")).toBe(false);
  });
});

describe("doctor checks", () => {
  it("a healthy two-node cluster with the good CIB has no findings", () => {
    const r = runChecks(CHECKS, input(healthy()));
    expect(r.findings.map(findingJson)).toEqual([]);
    expect(r.status).toBe("OK");
    expect(r.skipped).toEqual([]);
  });

  it("without a CIB the CIB checks are listed as skipped", () => {
    const r = runChecks(CHECKS, input(healthy(), { cib: null }));
    expect(r.status).toBe("OK");
    expect(r.skipped.map((s) => s.check)).toEqual(
      expect.arrayContaining(["order-ip-before-export", "order-rmtabsync", "stop-timeout-too-short", "fsid-missing"]),
    );
  });

  it("fsid-missing: warning for ext4 (UUID fallback), critical for XFS without UUID on different device numbers", () => {
    const noFsid = HEALTHY_ETAB.replace(",fsid=11", "").replace(",fsid=12", "");
    const w = fired(input({ ds03: nodeFacts({ etab: noFsid }), ds04: nodeFacts({ hostname: "ds04" }) }), "fsid-missing");
    expect(w.map((f) => `${f.severity} ${f.export} ${f.nodes}`)).toEqual(["warning vm0 ds03", "warning vm1 ds03"]);
    // XFS with no blkid UUID, device 147:11 on ds03 and 147:13 on ds04
    const mi4 = fixture("mountinfo").replace("147:11 / /srv/vm1", "147:13 / /srv/vm1");
    const crit = fired(
      input({ ds03: nodeFacts({ etab: noFsid, blkid: new Map() }), ds04: nodeFacts({ hostname: "ds04", etab: noFsid, blkid: new Map(), mountinfo: mi4 }) }),
      "fsid-missing",
    );
    expect(crit.find((f) => f.export === "vm1")).toMatchObject({ severity: "critical", nodes: ["ds03", "ds04"], fix: "pcs resource update ex_vm1 fsid=22" });
    expect(crit.find((f) => f.export === "vm0")?.severity).toBe("warning"); // ext4: f_fsid comes from the UUID
    // the CIB part
    expect(fired(input(healthy(), { cib: "no-fsid" }), "fsid-missing").map((f) => f.evidence)).toEqual(["exportfs resource ex_vm1 (/srv/vm1) sets no fsid"]);
    expect(fired(input(healthy()), "fsid-missing")).toEqual([]);
  });

  it("fsid-mismatch: nodes disagree, or a node disagrees with the CIB", () => {
    const other = HEALTHY_ETAB.replace("fsid=11", "fsid=13");
    const f = fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", etab: other }) }, { cib: null }), "fsid-mismatch");
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: "critical", export: "vm0", nodes: ["ds03", "ds04"] });
    expect(f[0]!.evidence).toBe("/srv/vm0 has fsid ds03: 11, ds04: 13");
    // both nodes say 13, the CIB says 11
    const both = fired(input({ ds03: nodeFacts({ etab: other }), ds04: nodeFacts({ hostname: "ds04", etab: other }) }), "fsid-mismatch");
    expect(both[0]!.evidence).toBe("/srv/vm0 has fsid ds03: 13, ds04: 13, CIB ex_vm0: 11");
    expect(both[0]!.fix).toContain("pcs resource update ex_vm0 fsid=11");
    // close: "011" is the same number
    expect(fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", etab: HEALTHY_ETAB.replace("fsid=11", "fsid=011") }) }), "fsid-mismatch")).toEqual([]);
  });

  it("fsid-mismatch: a node that exported the export earlier keeps its served fsid in its facts", () => {
    const before = nodeFacts({ hostname: "ds04", etab: HEALTHY_ETAB.replace("fsid=11", "fsid=13") });
    const now = nodeFacts({ hostname: "ds04", etab: HEALTHY_ETAB.split("\n").slice(1).join("\n"), previous: before });
    expect(now.exports.vm0!.exported.value).toBe(false);
    expect(now.exports.vm0!.served?.fsid).toBe("13");
    expect(fired(input({ ds03: nodeFacts(), ds04: now }, { cib: null }), "fsid-mismatch")).toHaveLength(1);
  });

  it("fsid-duplicate: two paths with one fsid on a node, multi-directory ranges in the CIB, cloned UUIDs", () => {
    const dup = `${HEALTHY_ETAB}/srv/other\t*(ro,mountpoint,fsid=12)\n`;
    const f = fired(input({ ds03: nodeFacts({ etab: dup }), ds04: nodeFacts({ hostname: "ds04" }) }, { cib: null }), "fsid-duplicate");
    expect(f.map((x) => x.evidence)).toEqual(["fsid 12 is used by /srv/vm1 and /srv/other (seen on ds03, ds04)"]);
    const range = fired(input(healthy(), { cib: "fsid-overlap" }), "fsid-duplicate");
    expect(range.map((x) => x.evidence)).toEqual(["fsid 21 is used by /srv/vm1 and /srv/shared/b (seen on CIB ex_shared, CIB ex_vm1)"]);
    // cloned filesystem: /srv/vm1 on another device with vm0's UUID
    const clone = new Map([
      ["/dev/drbd10", { DEVNAME: "/dev/drbd10", UUID: "5b0a3c52-8f57-4c1e-9d51-2f1d3a6b7c10", TYPE: "ext4" }],
      ["/dev/drbd11", { DEVNAME: "/dev/drbd11", UUID: "5b0a3c52-8f57-4c1e-9d51-2f1d3a6b7c10", TYPE: "ext4" }],
    ]);
    const u = fired(input({ ds03: nodeFacts({ blkid: clone }), ds04: nodeFacts({ hostname: "ds04" }) }, { cib: null }), "fsid-duplicate");
    expect(u.map((x) => x.evidence)).toEqual(["exports vm0 and vm1 are on different filesystems with the same UUID 5b0a3c52-8f57-4c1e-9d51-2f1d3a6b7c10"]);
    expect(fired(input(healthy()), "fsid-duplicate")).toEqual([]);
  });

  it("fs-identity-mismatch: another filesystem UUID behind the export on another node", () => {
    const copy = new Map([["/dev/drbd10", { DEVNAME: "/dev/drbd10", UUID: "11111111-2222-3333-4444-555555555555", TYPE: "ext4" }]]);
    const f = fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", blkid: copy }) }), "fs-identity-mismatch");
    expect(f.map((x) => `${x.severity} ${x.export} ${x.nodes}`)).toEqual(["critical vm0 ds03,ds04"]);
    // close: different device numbers, same UUID (DRBD minors differ) is fine
    const mi = fixture("mountinfo").replace("147:10 / /srv/vm0", "147:20 / /srv/vm0");
    expect(fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", mountinfo: mi }) }), "fs-identity-mismatch")).toEqual([]);
  });

  it("order-ip-before-export: group order and resource sets; a portblock bracket makes it safe", () => {
    expect(fired(input(healthy(), { cib: "ip-first" }), "order-ip-before-export").map((f) => `${f.export} ${f.fix}`)).toEqual([
      "vm0 pcs resource group add g_vm0 ip_vm0 --after ex_vm0",
    ]);
    expect(fired(input(healthy(), { cib: "ip-set-first" }), "order-ip-before-export").map((f) => `${f.export} ${f.fix}`)).toEqual([
      "sha pcs constraint order start ex_shared then start ip_vm1",
      "vm1 pcs constraint order start ex_vm1 then start ip_vm1",
    ]);
    // kind="Optional" orders nothing at start-up
    expect(fired(input(healthy(), { cib: "optional-order" }), "order-ip-before-export").map((f) => f.export)).toEqual(["sha", "vm1"]);
    expect(fired(input(healthy(), { cib: "bracket" }), "order-ip-before-export")).toEqual([]);
    expect(fired(input(healthy(), { cib: "good" }), "order-ip-before-export")).toEqual([]);
  });

  it("order-rmtabsync: rmtabsync after its exportfs", () => {
    const f = fired(input(healthy(), { cib: "rmtabsync-late" }), "order-rmtabsync");
    expect(f.map((x) => `${x.severity} ${x.export} ${x.fix}`)).toEqual(["warning vm0 pcs resource group add g_vm0 rmtabsync_vm0 --before ex_vm0"]);
    expect(fired(input(healthy(), { cib: "good" }), "order-rmtabsync")).toEqual([]);
  });

  it("exports-outside-cluster: an /etc/exports line for a cluster path, nfs-server.service enabled", () => {
    const line = { file: "/etc/exports", line: 5, path: "/srv/vm0", text: "/srv/vm0 10.0.0.0/24(rw,sync,fsid=99)" };
    const f = fired(input({ ds03: nodeFacts({ exportsLines: [line], enabled: true }), ds04: nodeFacts({ hostname: "ds04" }) }), "exports-outside-cluster");
    expect(f.map((x) => `${x.export} ${x.nodes}`).sort()).toEqual(["null ds03", "vm0 ds03"]);
    expect(fired(input(healthy()), "exports-outside-cluster")).toEqual([]);
  });

  it("server-scope-mismatch: scopes differ, or one is left at the hostname default", () => {
    const other = fixture("nfs.conf").replace("scope=nfs.example.org", "scope=nfs2.example.org");
    expect(fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", nfsConf: other }) }), "server-scope-mismatch")[0]?.evidence).toBe(
      "nfsd scope ds03: nfs.example.org, ds04: nfs2.example.org",
    );
    const dflt = fixture("nfs.conf").replace("scope=nfs.example.org\n", "");
    const d = fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", nfsConf: dflt }) }), "server-scope-mismatch");
    expect(d[0]).toMatchObject({ severity: "critical", evidence: "nfsd scope ds03: nfs.example.org, ds04: ds04 (ds04 left at the hostname default)" });
    expect(d[0]!.fix).toContain("[nfsd] scope=nfs.example.org");
    expect(fired(input(healthy()), "server-scope-mismatch")).toEqual([]);
  });

  // both nodes with [nfsd] scope=nfs.example.org (the fixture's nfs.conf), each with its own hostname
  const pair = (o: NodeOpts = {}, o4: NodeOpts = o) => ({ ds03: nodeFacts(o), ds04: nodeFacts({ hostname: "ds04", ...o4 }) });
  const IGNORED = (n: string) =>
    `${n}: [nfsd] scope=nfs.example.org in /etc/nfs.conf line 30 is ignored by this rpc.nfsd (no scope support before nfs-utils 2.6.3): nfsd runs with the hostname ${n}`;

  it("server-scope-mismatch: [nfsd] scope counts only where rpc.nfsd reads it; Debian 12's (nfs-utils 2.6.2) ignores it", () => {
    expect(fired(input(pair({ rpcNfsd: RPC_NFSD_SCOPE })), "server-scope-mismatch")).toEqual([]);
    const f = fired(input(pair({ rpcNfsd: RPC_NFSD_DEBIAN12 }), { cib: null }), "server-scope-mismatch");
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: "critical", nodes: ["ds03", "ds04"], evidence: `nfsd scope ds03: ds03, ds04: ds04; ${IGNORED("ds03")}; ${IGNORED("ds04")}` });
    // the fix works on those nodes: not the nfs.conf line they ignore
    expect(f[0]!.fix).toBe(
      "set nfs_server_scope=nfs.example.org on the nfsserver resource that starts nfsd (the agent starts nfs-server under that hostname, on any nfs-utils), or upgrade nfs-utils to 2.6.3 or later on ds03, ds04 and set [nfsd] scope=nfs.example.org in /etc/nfs.conf on every node; then restart nfsd in a maintenance window",
    );
    // one node upgraded: the other still runs with its hostname
    const one = fired(input(pair({ rpcNfsd: RPC_NFSD_SCOPE }, { rpcNfsd: RPC_NFSD_DEBIAN12 }), { cib: null }), "server-scope-mismatch");
    expect(one[0]).toMatchObject({ nodes: ["ds03", "ds04"], evidence: `nfsd scope ds03: nfs.example.org, ds04: ds04; ${IGNORED("ds04")}` });
    expect(one[0]!.fix).toContain("upgrade nfs-utils to 2.6.3 or later on ds04 and");
  });

  it("server-scope-mismatch: the nfsserver resource's nfs_server_scope wins over nfs.conf and the hostname", () => {
    const noScope = fixture("nfs.conf").replace("scope=nfs.example.org\n", "");
    for (const o of [{ rpcNfsd: RPC_NFSD_DEBIAN12 }, { rpcNfsd: RPC_NFSD_DEBIAN12, nfsConf: noScope }, { rpcNfsd: RPC_NFSD_SCOPE }])
      expect(fired(input(pair(o), { cib: "nfsserver-scope" }), "server-scope-mismatch")).toEqual([]);
    // an nfsserver resource without it: the nodes' own scope, and the fix is the resource's
    const f = fired(input(pair({ rpcNfsd: RPC_NFSD_DEBIAN12 }), { cib: "nfsserver" }), "server-scope-mismatch");
    expect(f[0]?.evidence).toBe(`nfsd scope ds03: ds03, ds04: ds04; ${IGNORED("ds03")}; ${IGNORED("ds04")}`);
    expect(f[0]?.fix).toBe(
      "pcs resource update nfsd nfs_server_scope=nfs.example.org in a maintenance window (it restarts nfsd; the nfsserver agent starts nfs-server under that hostname, on any nfs-utils)",
    );
    const d = fired(input(pair({ rpcNfsd: RPC_NFSD_SCOPE, nfsConf: noScope }), { cib: "nfsserver" }), "server-scope-mismatch");
    expect(d[0]).toMatchObject({ evidence: "nfsd scope ds03: ds03, ds04: ds04 (ds03, ds04 left at the hostname default)" });
    expect(d[0]!.fix).toMatch(/^pcs resource update nfsd nfs_server_scope=<service IP or cluster name> /);
  });

  it("server-scope-mismatch: quiet where no node serves NFSv4.1 or 4.2", () => {
    const v3 = { rpcNfsd: RPC_NFSD_DEBIAN12, versions: "-2 +3 -4 -4.0 -4.1 -4.2\n" };
    expect(fired(input(pair(v3)), "server-scope-mismatch")).toEqual([]);
    // NFSv4.0 only still has no scope to reclaim under
    expect(fired(input(pair({ ...v3, versions: "-2 +3 +4 +4.0 -4.1 -4.2\n" })), "server-scope-mismatch")).toEqual([]);
    // nfsd stopped on ds04: nfs.conf's vers4=n says what it will serve
    const conf3 = `${fixture("nfs.conf")}[nfsd]\nvers4=n\n`;
    expect(fired(input(pair(v3, { rpcNfsd: RPC_NFSD_DEBIAN12, threads: "0\n", nfsConf: conf3 })), "server-scope-mismatch")).toEqual([]);
    // one node serves 4.1, or its versions are unknown: assumed served
    expect(fired(input(pair(v3, { rpcNfsd: RPC_NFSD_DEBIAN12 })), "server-scope-mismatch")).toHaveLength(1);
    expect(fired(input(pair(v3, { rpcNfsd: RPC_NFSD_DEBIAN12, versions: "?" })), "server-scope-mismatch")).toHaveLength(1);
  });

  it("server-scope-mismatch: facts published before scope support and versions were facts still load, as unknown", () => {
    // as an older rmtabsync published them: no nfsdScopeSupport, no nfsVersions, effective = [nfsd] scope
    const older = (o: NodeOpts): NodeFacts => {
      const { nfsdScopeSupport: _s, nfsVersions: _v, ...rest } = nodeFacts({ rpcNfsd: RPC_NFSD_DEBIAN12, ...o });
      const body = JSON.parse(JSON.stringify({ ...rest, scope: { configured: rest.scope.configured, effective: rest.scope.configured } }));
      const loaded = asNodeFacts({ version: 1, wall: NOW, format: FACTS_FORMAT, body, hash: "" });
      expect(loaded).toBeDefined();
      return loaded!;
    };
    const r = runChecks(CHECKS, input({ ds03: older({}), ds04: older({ hostname: "ds04" }) }));
    expect(r.findings.filter((f) => f.check === "server-scope-mismatch")).toEqual([]);
    expect(r.skipped.filter((s) => s.check === "server-scope-mismatch").map((s) => s.reason)).toEqual(
      ["ds03", "ds04"].map((n) => `${n}: scope unknown: [nfsd] scope=nfs.example.org in /etc/nfs.conf line 30, but whether rpc.nfsd reads it is unknown (facts from an older rmtabsync)`),
    );
    // the hostname default is known without them (versions unknown: NFSv4.1 assumed served)
    const noScope = fixture("nfs.conf").replace("scope=nfs.example.org\n", "");
    const d = fired(input({ ds03: older({}), ds04: older({ hostname: "ds04", nfsConf: noScope }) }), "server-scope-mismatch");
    expect(d).toHaveLength(1);
    expect(d[0]!.evidence).toBe("nfsd scope ds04: ds04 (ds04 left at the hostname default)");
    // the CIB's nfs_server_scope needs no node facts
    expect(runChecks(CHECKS, input({ ds03: older({}), ds04: older({ hostname: "ds04" }) }, { cib: "nfsserver-scope" })).skipped).toEqual([]);
  });

  it("v4-state-at-risk: live opens/locks/delegations counted per export", () => {
    const f = fired(input({ ds03: nodeFacts({ states: fixture("states") }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-state-at-risk");
    expect(f.map((x) => x.evidence)).toEqual([
      "ds03 holds NFSv4 state on /srv/vm0: 1 open, 1 lock, 1 delegation",
      "ds03 holds NFSv4 state on /srv/vm1: 1 open, 0 locks, 0 delegations",
    ]);
    // no nfsd: unknown, not zero, and no finding
    const none = nodeFacts({ states: null });
    expect(none.exports.vm0!.v4State).toEqual({ value: null, reason: "/proc/fs/nfsd/clients does not exist" });
    expect(fired(input({ ds03: none, ds04: nodeFacts({ hostname: "ds04", states: "" }) }), "v4-state-at-risk")).toEqual([]);
  });

  it("v4-recovery-local: NFSv4 state on a node whose nfsdcld database is node-local", () => {
    const states = fixture("states");
    // the default storagedir, /var/lib/nfs/nfsdcld, on the root filesystem
    const f = fired(input({ ds03: nodeFacts({ states }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-recovery-local");
    expect(f.map((x) => `${x.severity} ${x.export} ${x.nodes}`)).toEqual(["critical vm0 ds03", "critical vm1 ds03"]);
    expect(f[0]!.evidence).toBe(
      "ds03 holds NFSv4 state on /srv/vm0 (1 open, 1 lock) and keeps nfsdcld's database in /var/lib/nfs/nfsdcld on / (ext4 /dev/vda1), a node-local filesystem",
    );
    // a tmpfs /var/lib/nfs (as in the lab's nodes) is node-local too
    const tmpfsNfs = `${fixture("mountinfo")}46 29 0:41 / /var/lib/nfs rw,relatime - tmpfs tmpfs rw\n`;
    expect(fired(input({ ds03: nodeFacts({ states, mountinfo: tmpfsNfs }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-recovery-local")).toHaveLength(2);
    // close: storagedir on the export's own volume, on a DRBD device, on GFS2
    const onExport = `${fixture("nfs.conf")}[nfsdcld]\nstoragedir=/srv/vm0/.nfsdcld\n`;
    expect(fired(input({ ds03: nodeFacts({ states, nfsConf: onExport }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-recovery-local")).toEqual([]);
    const drbd = `${fixture("mountinfo")}123 29 147:20 / /var/lib/nfs rw,relatime - ext4 /dev/drbd20 rw\n`;
    expect(fired(input({ ds03: nodeFacts({ states, mountinfo: drbd }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-recovery-local")).toEqual([]);
    const gfs2 = `${fixture("mountinfo")}124 29 253:3 / /var/lib/nfs rw,relatime - gfs2 /dev/mapper/vg-nfsstate rw\n`;
    expect(fired(input({ ds03: nodeFacts({ states, mountinfo: gfs2 }), ds04: nodeFacts({ hostname: "ds04" }) }), "v4-recovery-local")).toEqual([]);
    // close: no NFSv4 state (NFSv3 only), or nfsd not running
    expect(fired(input({ ds03: nodeFacts({ states: "" }), ds04: nodeFacts({ hostname: "ds04", states: null }) }), "v4-recovery-local")).toEqual([]);
  });

  it("ports-unfixed: side ports not set in nfs.conf, or set differently", () => {
    const d = fired(input({ ds03: nodeFacts({ nfsConf: fixture("nfs.conf.default") }), ds04: nodeFacts({ hostname: "ds04" }) }), "ports-unfixed");
    expect(d).toHaveLength(1);
    expect(d[0]!.nodes).toEqual(["ds03"]);
    expect(d[0]!.fix).toBe("in /etc/nfs.conf on every node set [mountd] port=20048, [statd] port=32765, [statd] outgoing-port=32766, [lockd] port=32768, [lockd] udp-port=32768");
    const other = fixture("nfs.conf").replace("port=20048", "port=20049");
    expect(fired(input({ ds03: nodeFacts(), ds04: nodeFacts({ hostname: "ds04", nfsConf: other }) }), "ports-unfixed")[0]?.evidence).toBe("[mountd] port ds03: 20048, ds04: 20049");
    expect(fired(input(healthy()), "ports-unfixed")).toEqual([]);
  });

  it("fh-key-mismatch: key hashes differ", () => {
    const k = (h: string) => ({ file: "/etc/nfs/fh.key", sha256: h.repeat(64) });
    expect(fired(input({ ds03: nodeFacts({ fhKey: k("a") }), ds04: nodeFacts({ hostname: "ds04", fhKey: k("b") }) }), "fh-key-mismatch")).toHaveLength(1);
    expect(fired(input({ ds03: nodeFacts({ fhKey: k("a") }), ds04: nodeFacts({ hostname: "ds04" }) }), "fh-key-mismatch")).toHaveLength(1);
    expect(fired(input({ ds03: nodeFacts({ fhKey: k("a") }), ds04: nodeFacts({ hostname: "ds04", fhKey: k("a") }) }), "fh-key-mismatch")).toEqual([]);
  });

  it("facts-missing: no facts, or facts older than the limit", () => {
    expect(fired(input({ ds03: nodeFacts(), ds04: null }), "facts-missing").map((f) => f.nodes)).toEqual([["ds04"]]);
    const old = fired(input(healthy(), { checked: NOW - 2 * 3_600_000 }), "facts-missing");
    expect(old.map((f) => f.evidence)).toEqual([
      "node ds03's facts are 120 min old (last collected 2026-11-18T09:08:20.000Z)",
      "node ds04's facts are 120 min old (last collected 2026-11-18T09:08:20.000Z)",
    ]);
    expect(fired(input(healthy(), { checked: NOW - 3_500_000 }), "facts-missing")).toEqual([]);
  });

  it("rmtab-damaged: malformed lines in a node's rmtab", () => {
    const f = fired(input({ ds03: nodeFacts({ rmtabBad: [{ line: 3, problem: "no ':' (mountd stops reading here)" }] }), ds04: nodeFacts({ hostname: "ds04" }) }), "rmtab-damaged");
    expect(f.map((x) => `${x.severity} ${x.nodes}`)).toEqual(["warning ds03"]);
    expect(fired(input(healthy()), "rmtab-damaged")).toEqual([]);
  });

  it("mountpoint-option: an export without mp", () => {
    const f = fired(input({ ds03: nodeFacts({ etab: HEALTHY_ETAB.replace("fsid=11,mountpoint,", "fsid=11,") }), ds04: nodeFacts({ hostname: "ds04" }) }), "mountpoint-option");
    expect(f.map((x) => `${x.severity} ${x.export} ${x.nodes}`)).toEqual(["info vm0 ds03"]);
    expect(runChecks(CHECKS, input({ ds03: nodeFacts({ etab: ETAB_VM0.replace("fsid=11,mountpoint,", "fsid=11,") }), ds04: nodeFacts({ hostname: "ds04", etab: ETAB_VM1 }) })).status).toBe("OK");
    expect(fired(input(healthy()), "mountpoint-option")).toEqual([]);
  });

  it("stop-timeout-too-short: wait_for_leasetime_on_stop with a stop timeout below lease + margin", () => {
    const f = fired(input(healthy(), { cib: "stop-short" }), "stop-timeout-too-short");
    expect(f.map((x) => `${x.export} ${x.fix}`)).toEqual(["vm0 pcs resource update ex_vm0 op stop timeout=102s"]);
    expect(fired(input(healthy(), { cib: "good" }), "stop-timeout-too-short")).toEqual([]);
    // lease unknown everywhere: the check says it could not run
    const r = runChecks(CHECKS, input({ ds03: nodeFacts({ lease: null, nfsConf: fixture("nfs.conf").replace("lease-time=90\n", "") }), ds04: nodeFacts({ hostname: "ds04", lease: null, nfsConf: fixture("nfs.conf").replace("lease-time=90\n", "") }) }, { cib: "stop-short" }));
    expect(r.skipped).toEqual([{ check: "stop-timeout-too-short", reason: "no node published its NFSv4 lease time" }]);
  });

  it("export-on-two-nodes: both nodes' facts say they export vm0 now; not when one of them stopped, nor on stale facts", () => {
    const both = fired(input({ ds03: nodeFacts({ etab: ETAB_VM0 }), ds04: nodeFacts({ hostname: "ds04", etab: ETAB_VM0 + ETAB_VM1 }) }), "export-on-two-nodes");
    expect(both.map((x) => `${x.severity} ${x.export} ${x.nodes}`)).toEqual(["critical vm0 ds03,ds04"]);
    expect(both[0]!.evidence).toBe("/srv/vm0 is exported on ds03 and ds04 at once (each node's etab lists it)");
    // the close case: vm0 moved to ds04 and ds03's etab no longer lists it
    expect(fired(input({ ds03: nodeFacts({ etab: "" }), ds04: nodeFacts({ hostname: "ds04", etab: ETAB_VM0 + ETAB_VM1 }) }), "export-on-two-nodes")).toEqual([]);
    expect(fired(input(healthy()), "export-on-two-nodes")).toEqual([]);
    // facts older than --facts-max-age are not evidence of exporting now (facts-missing reports them)
    const stale = input({ ds03: nodeFacts({ etab: ETAB_VM0 }), ds04: nodeFacts({ hostname: "ds04", etab: ETAB_VM0 }) }, { checked: NOW - 7_200_000 });
    expect(fired(stale, "export-on-two-nodes")).toEqual([]);
    expect(fired(stale, "facts-missing")).not.toEqual([]);
  });

  it("a standby whose etab lists a cluster path while the export's volume is not mounted there (an /etc/exports line loaded at boot)", () => {
    // seen on a real kernel (lab case etc_exports): the cluster's exportfs sets
    // the export again at takeover and the client keeps working
    const noVm0 = fixture("mountinfo").split("\n").filter((l) => !l.includes(" /srv/vm0 ")).join("\n");
    const boot = HEALTHY_ETAB.replace("fsid=11", "fsid=7");
    const ds04 = nodeFacts({ hostname: "ds04", etab: boot, mountinfo: noVm0 });
    expect(ds04.exports.vm0!.fs.value?.mountPoint).toBe("/");
    expect(ds04.exports.vm0!.served).toBeNull(); // not "served": the data's volume is not mounted
    const i = input({ ds03: nodeFacts({ etab: ETAB_VM0 }), ds04 });
    expect(fired(i, "export-on-two-nodes")).toEqual([]);
    expect(fired(i, "fsid-mismatch")).toEqual([]);
    // close: the same etab with vm0's volume mounted on ds04 is two exports, with two fsids
    const mounted = input({ ds03: nodeFacts({ etab: ETAB_VM0 }), ds04: nodeFacts({ hostname: "ds04", etab: boot }) });
    expect(fired(mounted, "export-on-two-nodes").map((f) => f.export)).toEqual(["vm0"]);
    expect(fired(mounted, "fsid-mismatch").map((f) => f.export)).toEqual(["vm0"]);
  });

  it("every registered check id is covered above", () => {
    expect(CHECKS.map((c) => c.id).sort()).toEqual(
      [
        "fsid-missing", "fsid-mismatch", "fsid-duplicate", "fs-identity-mismatch", "order-ip-before-export", "order-rmtabsync",
        "exports-outside-cluster", "server-scope-mismatch", "v4-state-at-risk", "v4-recovery-local", "ports-unfixed", "fh-key-mismatch",
        "facts-missing", "rmtab-damaged", "mountpoint-option", "stop-timeout-too-short", "export-on-two-nodes",
      ].sort(),
    );
  });
});
