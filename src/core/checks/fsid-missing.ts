// fsid-missing: an export without an explicit fsid= falls back to the
// filesystem UUID or, worse, the device number, which can differ per node.
import { cibExports } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { BLKID_SKIPPED, type FsFacts } from "../facts.js";
import { cibExportOf, indexCibExports, exportForDir, nextFreeFsid, withFacts } from "./util.js";

const F_FSID_FROM_UUID = new Set(["ext2", "ext3", "ext4"]);

/** What the kernel puts in the handle without fsid=: "uuid" (stable on DRBD) or "device" (major:minor). */
export function fallbackOf(fs: FsFacts): "uuid" | "device" {
  if (fs.uuid !== null && !BLKID_SKIPPED.has(fs.type)) return "uuid";
  if (F_FSID_FROM_UUID.has(fs.type)) return "uuid";
  return "device";
}

export const fsidMissing: Check = {
  id: "fsid-missing",
  cib: "optional",
  run(input) {
    const findings: Finding[] = [];
    const nodes = withFacts(input.nodes);
    const used = nodes.flatMap((n) => (n.facts.etab.value ?? []).map((l) => l.fsid ?? ""));
    const ce = input.cib ? cibExports(input.cib) : [];
    const cix = indexCibExports(ce);
    used.push(...ce.flatMap((c) => c.fsids.map((f) => f ?? "")));
    const suggest = nextFreeFsid(used);
    for (const e of input.exports) {
      const missing = nodes.filter((n) => {
        const x = n.facts.exports[e.name];
        return x?.exported.value === true && x.etabFsids.length === 0;
      });
      if (missing.length === 0) continue;
      const devices = new Map<string, string>();
      let deviceFallback = false;
      for (const n of nodes) {
        const fs = n.facts.exports[e.name]?.served?.fs ?? null;
        if (!fs) continue;
        devices.set(n.node, fs.device);
        if (fallbackOf(fs) === "device") deviceFallback = true;
      }
      const differ = new Set(devices.values()).size > 1;
      const critical = deviceFallback && differ;
      const prim = cibExportOf(cix, e.path);
      findings.push({
        check: "fsid-missing",
        severity: critical ? "critical" : "warning",
        export: e.name,
        nodes: missing.map((n) => n.node),
        evidence: `${e.path} is exported without fsid= on ${missing.map((n) => n.node).join(", ")}${
          critical ? `; its handles fall back to the device number, which differs (${[...devices].map(([n, d]) => `${n} ${d}`).join(", ")})` : ""
        }`,
        why: critical
          ? "after failover every client handle names a device the new node does not have: Stale file handle"
          : "the handle falls back to the filesystem UUID or device number, which a rebuilt or cloned device can change",
        fix: prim ? `pcs resource update ${prim.id} fsid=${suggest}` : `add fsid=${suggest} to the options of ${e.path} on every node (the same value everywhere)`,
      });
    }
    for (const c of ce) {
      if (c.fsids.some((f) => f !== null)) continue;
      const ex = c.directories.map((d) => exportForDir(input.exports, d)).find((x) => x !== undefined);
      findings.push({
        check: "fsid-missing",
        severity: "warning",
        export: ex?.name ?? null,
        nodes: [],
        evidence: `exportfs resource ${c.id} (${c.directories.join(" ")}) sets no fsid`,
        why: "without a fixed fsid each node derives the handle from its own UUID or device number",
        fix: `pcs resource update ${c.id} fsid=${suggest}`,
      });
    }
    return { findings };
  },
};
