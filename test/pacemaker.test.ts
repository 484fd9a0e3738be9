// deploy/pacemaker: the example CIB passes crm_verify, and the pcs script
// builds the same resources and constraints (run with the real pcs against a
// file: `pcs cluster cib`/`cib-push` need a running cluster, so a stand-in
// pcs first on PATH turns them into file steps and adds --force, because the
// DRBD, fence and rmtabsync agents are not installed here).
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/cluster.js";
import { loadConfig } from "../src/config.js";
import { CHECKS } from "../src/core/checks/index.js";
import { parseCib } from "../src/core/cib-parse.js";
import { findingJson, runChecks } from "../src/core/doctor.js";

const DIR = join(ROOT, "deploy/pacemaker");
const CIB = join(DIR, "cib-two-nodes.xml");

function which(cmd: string, pkg: string): string {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} is missing: apt-get install ${pkg}`);
  return r.stdout.trim();
}

function crmVerify(file: string) {
  which("crm_verify", "pacemaker-cli-utils");
  const r = spawnSync("crm_verify", ["-V", "--xml-file", file], { encoding: "utf8" });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

/** Resources (id, class:provider:type, parent) and constraints of a CIB, sorted, ids of ops/attributes left out. */
function shape(xml: string): string[] {
  const out: string[] = [];
  const res = /<(group|clone)\s+id="([^"]+)"|<primitive\s+([^>]*)>|<\/(group|clone)>/g;
  const parents: string[] = [];
  for (const m of xml.matchAll(res)) {
    if (m[1]) parents.push(m[2]!);
    else if (m[4]) parents.pop();
    else {
      const a = Object.fromEntries([...m[3]!.matchAll(/(\w[\w-]*)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      out.push(`primitive ${a.id} ${a.class}:${a.provider ?? ""}:${a.type} in ${parents.join("/") || "-"}`);
    }
  }
  for (const m of xml.matchAll(/<(rsc_order|rsc_colocation|rsc_location)\s+([^>]*?)\/?>/g)) {
    const a = Object.fromEntries([...m[2]!.matchAll(/(\w[\w-]*)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (m[1] === "rsc_order")
      out.push(`order ${a["first-action"] ?? "start"} ${a.first} then ${a["then-action"] ?? "start"} ${a.then} ${a.kind ?? "Mandatory"}`);
    else if (m[1] === "rsc_colocation") out.push(`colocation ${a.rsc} with ${a["with-rsc-role"] ?? ""} ${a["with-rsc"]} ${a.score}`);
    else if (a.rsc) out.push(`location ${a.rsc} ${a.node} ${a.score}`);
  }
  return out.sort();
}

/** Runs a pcs script against a file (a stand-in pcs first on PATH), checks it builds the CIB's resources and constraints, and that crm_verify schedules it. */
function pcsBuildsTheCib(script: string, cibFile: string) {
  const pcs = which("pcs", "pcs");
  which("cibadmin", "pacemaker-cli-utils");
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-pcs-"));
  mkdirSync(join(dir, "bin"));
  const stand = join(dir, "bin/pcs");
  writeFileSync(
    stand,
    `#!/bin/sh
if [ "$1" = cluster ] && [ "$2" = cib ]; then exec cibadmin --empty > "$3"; fi
if [ "$1" = cluster ] && [ "$2" = cib-push ]; then exit 0; fi
exec ${pcs} "$@" --force
`,
  );
  chmodSync(stand, 0o755);
  const out = join(dir, "cib.xml");
  const r = spawnSync("sh", [join(DIR, script)], {
    encoding: "utf8",
    cwd: dir,
    env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}`, CIB: out },
    timeout: 280_000,
  });
  expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  const built = readFileSync(out, "utf8");
  const example = readFileSync(cibFile, "utf8");
  expect(shape(built)).toEqual(shape(example));
  // give the file the example's two online nodes, then let crm_verify schedule it
  const nodes = /<nodes>[\s\S]*?<\/nodes>/.exec(example)![0];
  const status = /<status>[\s\S]*?<\/status>/.exec(example)![0];
  const withNodes = built
    .replace(/<nodes\/>/, nodes)
    .replace(/<status\/>/, status)
    .replace(/<cib /, '<cib have-quorum="1" dc-uuid="1" ');
  writeFileSync(out, withNodes);
  const v = crmVerify(out);
  expect(v.out).toBe("");
  expect(v.code).toBe(0);
}

describe("Pacemaker example", () => {
  it("passes our own doctor: no finding, not even info, for the reference CIB and configuration", () => {
    const cfg = loadConfig(join(ROOT, "deploy/config.example.yaml"));
    const cib = parseCib(readFileSync(CIB, "utf8"));
    const r = runChecks(CHECKS, { exports: cfg.exports, nodes: [], self: cfg.nodes[0]!, nowMs: Date.now(), maxFactsAgeMs: 3_600_000, cib, cibReason: "" });
    expect(r.findings.map(findingJson)).toEqual([]);
    expect(r.skipped).toEqual([]);
    // and the pcs script sets the same export options
    const pcs = readFileSync(join(DIR, "pcs-two-nodes.sh"), "utf8");
    expect(pcs).toMatch(/options=rw,sync,no_subtree_check,no_root_squash,mp /);
  });

  it("crm_verify --xml-file accepts the example CIB", () => {
    const r = crmVerify(CIB);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
    const s = shape(readFileSync(CIB, "utf8"));
    for (const n of ["vm0", "vm1"]) {
      const group = s.filter((l) => l.endsWith(` in g-${n}`));
      expect(group).toEqual(
        [`fs-${n} ocf:heartbeat:Filesystem`, `rmtabsync-${n} ocf:rmtabsync:rmtabsync`, `exportfs-${n} ocf:heartbeat:exportfs`, `ip-${n} ocf:heartbeat:IPaddr2`]
          .map((p) => `primitive ${p} in g-${n}`)
          .sort(),
      );
      // the group's members start in this order (a group's order is its XML order)
      const xml = readFileSync(CIB, "utf8");
      const pos = ["fs", "rmtabsync", "exportfs", "ip"].map((p) => xml.indexOf(`<primitive id="${p}-${n}"`));
      expect([...pos].sort((a, b) => a - b)).toEqual(pos);
    }
    expect(s).toContain("primitive fs-control ocf:heartbeat:Filesystem in fs-control-clone");
    expect(s).toContain("primitive dlm ocf:pacemaker:controld in dlm-clone");
  });

  it("pcs-two-nodes.sh builds the same configuration, which crm_verify accepts", () => {
    pcsBuildsTheCib("pcs-two-nodes.sh", CIB);
  }, 300_000);
});

describe("Pacemaker example, per export group (no cluster filesystem)", () => {
  const GCIB = join(DIR, "cib-groups.xml");

  it("passes our own doctor with the per-group configuration: no finding, nothing skipped", () => {
    const cfg = loadConfig(join(ROOT, "deploy/config.groups.example.yaml"));
    expect(cfg.groups.map((g) => g.name)).toEqual(["g-vm0", "g-vm1"]);
    expect(cfg.controlDir).toBe("");
    const cib = parseCib(readFileSync(GCIB, "utf8"));
    const r = runChecks(CHECKS, { exports: cfg.exports, nodes: [], self: cfg.nodes[0]!, nowMs: Date.now(), maxFactsAgeMs: 3_600_000, cib, cibReason: "" });
    expect(r.findings.map(findingJson)).toEqual([]);
    expect(r.skipped).toEqual([]);
  });

  it("rmtabsync doctor --cib on it reports no critical finding", () => {
    const dir = mkdtempSync(join(tmpdir(), "rmtabsync-doctor-groups-"));
    // the example configuration, with this test's state directory
    const cfgFile = join(dir, "config.yaml");
    writeFileSync(cfgFile, readFileSync(join(ROOT, "deploy/config.groups.example.yaml"), "utf8").replace("stateDir: /var/lib/nfs", `stateDir: ${dir}`));
    const r = spawnSync(process.execPath, [join(ROOT, "dist/cli.js"), "-c", cfgFile, "-n", "ds03", "doctor", "--json", "--cib", GCIB], { encoding: "utf8" });
    const out = JSON.parse(r.stdout) as { state: string; findings: { severity: string }[] };
    expect(out.findings.filter((f) => f.severity === "critical"), r.stdout).toEqual([]);
    expect(out.state).not.toBe("CRITICAL");
    expect(out.state).not.toBe("UNKNOWN");
  });

  it("crm_verify --xml-file accepts it; no dlm, no cluster filesystem, no dual-primary; each group starts in order", () => {
    const r = crmVerify(GCIB);
    expect(r.out).toBe("");
    expect(r.code).toBe(0);
    const xml = readFileSync(GCIB, "utf8");
    const s = shape(xml);
    expect(s.filter((l) => / ocf:pacemaker:controld /.test(l))).toEqual([]);
    expect(xml).not.toMatch(/gfs2|ocfs2/);
    expect([...xml.matchAll(/name="promoted-max" value="(\d+)"/g)].map((m) => m[1])).toEqual(["1", "1"]);
    const members: Record<string, string[]> = {
      vm0: ["fs-vm0", "rmtabsync-vm0", "exportfs-vm0", "ip-vm0"],
      vm1: ["fs-vm1", "fs-vm1-control", "rmtabsync-vm1", "exportfs-vm1", "ip-vm1"],
    };
    for (const [n, ids] of Object.entries(members)) {
      expect(s.filter((l) => l.endsWith(` in g-${n}`)).map((l) => l.split(" ")[1]).sort()).toEqual([...ids].sort());
      // a group's order is its XML order
      const pos = ids.map((id) => xml.indexOf(`<primitive id="${id}"`));
      expect([...pos].sort((a, b) => a - b)).toEqual(pos);
      expect(s).toContain(`order promote drbd-${n}-clone then start g-${n} Mandatory`);
      expect(s).toContain(`colocation g-${n} with Promoted drbd-${n}-clone INFINITY`);
    }
  });

  it("pcs-groups.sh builds the same configuration, which crm_verify accepts", () => {
    pcsBuildsTheCib("pcs-groups.sh", GCIB);
  }, 300_000);
});
