// doctor and metrics through the real CLI on a two-node test cluster: node
// B publishes facts, doctor on A sees B's fsid; metrics pass promtool.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, TestCluster } from "./helpers/cluster.js";
import { RPC_NFSD_SCOPE, SYSTEM } from "./helpers/facts.js";

const CIB = join(ROOT, "test/fixtures/cib");

/** A cluster whose nodes read a healthy prepared system tree (fixed ports, scope, no nfs-server enablement). */
function cluster(): TestCluster {
  const c = new TestCluster(["ds03", "ds04"], [
    { name: "vm0", path: "/srv/vm0" },
    { name: "vm1", path: "/srv/vm1" },
  ]);
  const sys = {
    nfsConf: join(SYSTEM, "nfs.conf"),
    nfsConfDir: join(c.root, "none.d"),
    exports: join(c.root, "none-exports"),
    exportsDir: join(c.root, "none-exports.d"),
    procExports: join(c.root, "no-proc-content"),
    nfsdClients: join(c.root, "no-clients"),
    nfsdLeaseTime: join(c.root, "no-lease"),
    nfsdGraceTime: join(c.root, "no-grace"),
    nfsdVersions: join(c.root, "no-versions"),
    nfsdThreads: join(c.root, "no-threads"),
    mountinfo: join(SYSTEM, "mountinfo"),
    nfsServerEnabled: join(c.root, "not-enabled"),
    rpcNfsd: RPC_NFSD_SCOPE,
  };
  for (const n of c.nodes)
    writeFileSync(c.configFile(n), `${c.configText(n)}system:\n${Object.entries(sys).map(([k, v]) => `  ${k}: ${v}\n`).join("")}`);
  c.initAll();
  return c;
}

function etab(c: TestCluster, node: string, lines: [string, number][]): void {
  writeFileSync(
    join(c.stateDir(node), "etab"),
    lines.map(([p, fsid]) => `${p}\t10.0.0.0/24(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,mountpoint,fsid=${fsid})\n`).join(""),
  );
}

describe("doctor across nodes", () => {
  it("node B's fsid reaches doctor on node A; fixing B's etab and re-publishing clears the finding", () => {
    const c = cluster();
    // B served vm0 with fsid 13, then vm0 moved to A (an export lives on one node at a time)
    etab(c, "ds04", [["/srv/vm0", 13], ["/srv/vm1", 12]]);
    c.ok("ds04", ["record"]);
    etab(c, "ds04", [["/srv/vm1", 12]]);
    c.ok("ds04", ["record"]); // B publishes
    etab(c, "ds03", [["/srv/vm0", 11]]);
    const args = ["doctor", "--cib", join(CIB, "good.xml")];
    const r = c.run("ds03", [...args, "--json"]);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.status).toBe("CRITICAL");
    expect(doc.skipped).toEqual([]);
    expect(doc.findings).toEqual([
      {
        check: "fsid-mismatch",
        severity: "critical",
        export: "vm0",
        nodes: ["ds03", "ds04"],
        message:
          "/srv/vm0 has fsid ds03: 11, ds04: 13, CIB ex_vm0: 11: a handle issued with one fsid names no export on the node with the other: Stale file handle after failover",
        fix: "use fsid=11 everywhere: remove other fsid= settings for /srv/vm0 on ds04 (/etc/exports, manual exportfs) and run 'pcs resource update ex_vm0 fsid=11'",
      },
    ]);
    const text = c.run("ds03", args);
    expect(text.code).toBe(2);
    expect(text.stdout.split("\n")[0]).toMatch(/^rmtabsync CRITICAL: 1 critical, 0 warning, 0 info \(2 nodes, 2 exports\) \| critical=1;;0;0 warning=0;0;;0 info=0;;;0 skipped=\d+;;;0$/);
    expect(text.stdout).toContain("[critical] fsid-mismatch  export vm0  nodes ds03, ds04");
    expect(text.stderr).toBe("");

    etab(c, "ds04", [["/srv/vm0", 11], ["/srv/vm1", 12]]);
    // before B re-publishes, A still sees B's old fsid
    expect(c.run("ds03", args).code).toBe(2);
    c.ok("ds04", ["record"]);
    // now both export vm0 at once
    expect(JSON.parse(c.run("ds03", [...args, "--json"]).stdout).findings.map((f: { check: string }) => f.check)).toEqual(["export-on-two-nodes"]);
    etab(c, "ds04", [["/srv/vm1", 12]]);
    c.ok("ds04", ["record"]);
    const fixed = c.run("ds03", [...args, "--json"]);
    expect(JSON.parse(fixed.stdout)).toEqual({ state: "OK", code: 0, status: "OK", findings: [], skipped: [] });
    expect(fixed.code).toBe(0);
  });

  it("exit codes: 1 for warnings only, 3 UNKNOWN when doctor cannot run; --export filters", () => {
    const c = cluster();
    etab(c, "ds03", [["/srv/vm0", 11]]);
    // ds04 never recorded: facts-missing (warning)
    const w = c.run("ds03", ["doctor", "--cib", join(CIB, "good.xml"), "--json"]);
    expect(w.code).toBe(1);
    expect(JSON.parse(w.stdout).findings.map((f: { check: string }) => f.check)).toEqual(["facts-missing"]);
    // a CIB fault on vm0 only shows with --export vm0, not with --export vm1
    c.ok("ds04", ["record"]);
    const ip = ["doctor", "--cib", join(CIB, "ip-first.xml"), "--json"];
    expect(JSON.parse(c.run("ds03", [...ip, "--export", "vm0"]).stdout).findings.map((f: { check: string }) => f.check)).toEqual(["order-ip-before-export"]);
    const only1 = c.run("ds03", [...ip, "--export", "vm1"]);
    expect(only1.code).toBe(0);
    // unreadable CIB file, unknown export: UNKNOWN
    const bad = c.run("ds03", ["doctor", "--cib", join(c.root, "missing.xml")]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(/^rmtabsync UNKNOWN: --cib: cannot read .*\n$/);
    const nope = c.run("ds03", ["doctor", "--export", "nope"]);
    expect(nope.code).toBe(3);
    expect(nope.stdout).toMatch(/^rmtabsync UNKNOWN: --export: expected one of vm0, vm1, found "nope"\n$/);
    // usage errors and a bad configuration are UNKNOWN too, with one first line on stdout
    for (const args of [["doctor", "--bogus"], ["doctor", "--facts-max-age", "soon"], ["doctor", "--cib"], ["-n", "ds99", "doctor"]]) {
      const r = c.run("ds03", args);
      expect([args, r.code]).toEqual([args, 3]);
      expect(r.stdout).toMatch(/^rmtabsync UNKNOWN: \S.*\n$/);
    }
    const json = c.run("ds03", ["doctor", "--bogus", "--json"]);
    expect([json.code, JSON.parse(json.stdout)]).toEqual([3, { state: "UNKNOWN", code: 3, error: "unknown option '--bogus'" }]);
    // an unreadable journal: that node's facts are missing, with the reason
    writeFileSync(join(c.control, "journals", "ds04.sqlite"), "garbage, not a database".repeat(100));
    const unreadable = JSON.parse(c.run("ds03", ["doctor", "--cib", join(CIB, "good.xml"), "--json"]).stdout);
    expect(unreadable.findings.map((f: { check: string; message: string }) => `${f.check} ${f.message.split(": doctor")[0]}`)).toEqual([
      "facts-missing node ds04 has published no facts (not an SQLite database (garbage or another kind of file))",
    ]);
    writeFileSync(join(c.root, "broken.xml"), "<cib><configuration>");
    expect(c.run("ds03", ["doctor", "--cib", join(c.root, "broken.xml")]).code).toBe(3);
  });

  it("without --cib and without a running cluster, the CIB checks are skipped (cibadmin does not answer here)", () => {
    const c = cluster();
    etab(c, "ds03", [["/srv/vm0", 11]]);
    c.ok("ds04", ["record"]);
    const r = c.run("ds03", ["doctor", "--json"]);
    const doc = JSON.parse(r.stdout);
    expect(doc.status).toBe("OK");
    expect(doc.skipped.map((s: { check: string }) => s.check)).toEqual(
      expect.arrayContaining(["order-ip-before-export", "order-rmtabsync", "stop-timeout-too-short"]),
    );
    expect(doc.skipped.find((s: { check: string }) => s.check === "order-ip-before-export").reason).toMatch(/^no CIB: cibadmin/);
  });
});

describe("metrics", () => {
  it("stdout and --textfile pass promtool check metrics", () => {
    const c = cluster();
    etab(c, "ds03", [["/srv/vm0", 11]]);
    etab(c, "ds04", [["/srv/vm0", 13]]);
    c.mountd("ds03", "mount", "10.0.0.21", "/srv/vm0");
    c.ok("ds03", ["record"]);
    c.ok("ds04", ["record"]);
    c.writeRmtab("ds03", `${c.rmtab("ds03")}10.0.0.99:/srv/vm1:0x00000001\n`); // differs from what reconcile writes
    const r = c.ok("ds03", ["metrics", "--cib", join(CIB, "good.xml")]);
    const check = (text: string) => {
      const p = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      if (p.error) throw new Error(`promtool is missing: apt-get install prometheus (${p.error.message})`);
      return `${p.status} ${p.stdout}${p.stderr}`;
    };
    expect(check(r.stdout)).toBe("0 ");
    expect(r.stdout).toContain('rmtabsync_journal_readable{node="ds04"} 1');
    expect(r.stdout).toContain('rmtabsync_rmtab_entries{export="vm0"} 1');
    expect(r.stdout).toContain('rmtabsync_rmtab_entries{export="vm1"} 1');
    expect(r.stdout).toContain("rmtabsync_rmtab_drift_entries 1");
    expect(r.stdout).toContain('rmtabsync_doctor_findings{check="fsid-mismatch",severity="critical"} 1');
    expect(r.stdout).toMatch(/rmtabsync_last_success_timestamp_seconds\{operation="record"\} \d+/);
    // one word for the health state: status --json, doctor --json and metrics all say `state`
    const statusState = JSON.parse(c.run("ds03", ["status", "--json"]).stdout).state;
    const doctorState = JSON.parse(c.run("ds03", ["doctor", "--json", "--cib", join(CIB, "good.xml")]).stdout).state;
    expect([statusState, doctorState]).toEqual(["WARNING", "CRITICAL"]);
    expect(r.stdout).toContain(`rmtabsync_state{source="status",state="${statusState}"} 1`);
    expect(r.stdout).toContain(`rmtabsync_state{source="doctor",state="${doctorState}"} 1`);
    expect(r.stdout).toContain('rmtabsync_state{source="doctor",state="OK"} 0');
    expect(r.stdout.match(/^rmtabsync_state\{.*\} 1$/gm)).toHaveLength(2);
    const file = join(c.root, "textfile", "rmtabsync.prom");
    spawnSync("mkdir", ["-p", join(c.root, "textfile")]);
    c.ok("ds03", ["metrics", "--cib", join(CIB, "good.xml"), "--textfile", file]);
    expect(check(readFileSync(file, "utf8"))).toBe("0 ");
    expect(readdirSync(join(c.root, "textfile"))).toEqual(["rmtabsync.prom"]);
  });
});

/** Writes `stateDir`/etab with the real exportfs (private mount namespace over /etc/nfs.conf and /etc/exports). */
function exportfsEtab(root: string, stateDir: string, exportsText: string): void {
  const conf = join(root, `exportfs-${Math.random().toString(36).slice(2)}.conf`);
  const exportsFile = `${conf}.exports`;
  writeFileSync(conf, `[exportfs]\nstate-directory-path=${stateDir}\n[mountd]\nstate-directory-path=${stateDir}\n`);
  writeFileSync(exportsFile, exportsText);
  const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", 'mount --bind "$1" /etc/nfs.conf && mount --bind "$2" /etc/exports && exportfs -ra', "sh", conf, exportsFile], {
    encoding: "utf8",
  });
  if (r.error || r.status !== 0)
    throw new Error(`exportfs in a private mount namespace failed (needs root, util-linux unshare, and apt-get install nfs-kernel-server): ${r.error?.message ?? r.stderr}`);
}

describe("doctor on etab files written by the real exportfs", () => {
  it("different fsids from exportfs on two nodes: fsid-mismatch; no fsid: fsid-missing; the same fsid: clean", () => {
    const c = new TestCluster(["ds03", "ds04"], [{ name: "vm0", path: "/srv/vm0" }]);
    // exportfs wants the directory to exist: export a directory inside the test root
    const dir = join(c.root, "srv", "vm0");
    mkdirSync(dir, { recursive: true });
    c.exports[0]!.path = dir;
    // the export's volume mounted at the directory (an export on the root filesystem is no cluster export)
    const mountinfo = join(c.root, "mountinfo");
    writeFileSync(mountinfo, `${readFileSync(join(SYSTEM, "mountinfo"), "utf8")}130 29 147:10 / ${dir} rw,relatime shared:70 - ext4 /dev/drbd10 rw\n`);
    const sys = `system:\n  nfsConf: ${join(SYSTEM, "nfs.conf")}\n  nfsConfDir: ${join(c.root, "x")}\n  exports: ${join(c.root, "x")}\n  exportsDir: ${join(c.root, "x")}\n  mountinfo: ${mountinfo}\n  nfsServerEnabled: ${join(c.root, "x")}\n  procExports: ${join(c.root, "x")}\n  nfsdVersions: ${join(c.root, "x")}\n  nfsdThreads: ${join(c.root, "x")}\n  rpcNfsd: ${RPC_NFSD_SCOPE}\n`;
    for (const n of c.nodes) writeFileSync(c.configFile(n), c.configText(n) + sys);
    c.initAll();
    exportfsEtab(c.root, c.stateDir("ds03"), `${dir} 10.0.0.0/24(rw,sync,no_subtree_check,mp,fsid=11)\n`);
    exportfsEtab(c.root, c.stateDir("ds04"), `${dir} 10.0.0.0/24(rw,sync,no_subtree_check,mp,fsid=13)\n`);
    expect(readFileSync(join(c.stateDir("ds04"), "etab"), "utf8")).toMatch(new RegExp(`^${dir}\t10\\.0\\.0\\.0/24\\(rw,.*fsid=13,mountpoint,`));
    c.ok("ds04", ["record"]);
    const twice = JSON.parse(c.run("ds03", ["doctor", "--json"]).stdout);
    expect(twice.findings.map((f: { check: string }) => f.check)).toContain("export-on-two-nodes");
    // the export moves to ds03: ds04 unexports it, its last fsid stays known
    exportfsEtab(c.root, c.stateDir("ds04"), "");
    c.ok("ds04", ["record"]);
    const doc = JSON.parse(c.run("ds03", ["doctor", "--json"]).stdout);
    expect(doc.findings.map((f: { check: string; message: string }) => `${f.check} ${f.message.split(": a handle")[0]}`)).toEqual([
      `fsid-mismatch ${dir} has fsid ds03: 11, ds04: 13`,
    ]);
    // ds04 exports it again, without fsid (both nodes at once: export-on-two-nodes too)
    exportfsEtab(c.root, c.stateDir("ds04"), `${dir} 10.0.0.0/24(rw,sync,no_subtree_check,mp)\n`);
    c.ok("ds04", ["record"]);
    const missing = JSON.parse(c.run("ds03", ["doctor", "--json"]).stdout);
    expect(missing.findings.map((f: { check: string; severity: string; nodes: string[] }) => `${f.check} ${f.severity} ${f.nodes}`)).toEqual(["export-on-two-nodes critical ds03,ds04", "fsid-missing warning ds04"]);
    exportfsEtab(c.root, c.stateDir("ds04"), `${dir} 10.0.0.0/24(rw,sync,no_subtree_check,mp,fsid=11)\n`);
    c.ok("ds04", ["record"]);
    exportfsEtab(c.root, c.stateDir("ds04"), "");
    c.ok("ds04", ["record"]);
    expect(c.run("ds03", ["doctor"]).code).toBe(0);
  });
});
