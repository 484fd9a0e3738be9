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
    const r = spawnSync("sh", [join(DIR, "pcs-two-nodes.sh")], {
      encoding: "utf8",
      cwd: dir,
      env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}`, CIB: out },
      timeout: 280_000,
    });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const built = readFileSync(out, "utf8");
    expect(shape(built)).toEqual(shape(readFileSync(CIB, "utf8")));
    // give the file the example's two online nodes, then let crm_verify schedule it
    const example = readFileSync(CIB, "utf8");
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
  }, 300_000);
});
