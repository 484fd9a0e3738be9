// fsid-mismatch: one export, different fsids on different nodes (or in the
// CIB and a node's etab): handles from one node are stale on the other.
import { cibExports } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { cibExportOf, indexCibExports, listing, normFsid, offVolume, withFacts } from "./util.js";

export const fsidMismatch: Check = {
  id: "fsid-mismatch",
  cib: "optional",
  run(input) {
    const findings: Finding[] = [];
    const ce = input.cib ? cibExports(input.cib) : [];
    const cix = indexCibExports(ce);
    for (const e of input.exports) {
      const seen: [string, string][] = [];
      for (const n of withFacts(input.nodes)) {
        const x = n.facts.exports[e.name];
        if (!x) continue;
        // etab's fsid for a path whose volume is not mounted here is not the
        // one this node serves the data with (see offVolume)
        const vals = new Set<string>(offVolume(x) ? [] : x.etabFsids);
        if (x.exported.value === true && !offVolume(x) && x.fsid.value !== null && !x.fsid.value.startsWith("uuid:")) vals.add(x.fsid.value);
        if (vals.size === 0 && x.served?.fsid && !x.served.fsid.startsWith("uuid:")) vals.add(x.served.fsid);
        for (const v of vals) seen.push([n.node, v]);
      }
      const prim = cibExportOf(cix, e.path);
      const all = [...seen];
      if (prim?.fsid) all.push([`CIB ${prim.id}`, prim.fsid]);
      const distinct = new Set(all.map(([, v]) => normFsid(v)));
      if (distinct.size <= 1) continue;
      const want = prim?.fsid ?? seen[0]![1];
      const wrong = seen.filter(([, v]) => normFsid(v) !== normFsid(want)).map(([n]) => n);
      findings.push({
        check: "fsid-mismatch",
        severity: "critical",
        export: e.name,
        nodes: [...new Set(seen.map(([n]) => n))],
        evidence: `${e.path} has fsid ${listing(all)}`,
        why: "a handle issued with one fsid names no export on the node with the other: Stale file handle after failover",
        fix: prim
          ? `use fsid=${want} everywhere: remove other fsid= settings for ${e.path} on ${wrong.join(", ") || "the nodes"} (/etc/exports, manual exportfs) and run 'pcs resource update ${prim.id} fsid=${want}'`
          : `export ${e.path} with fsid=${want} on ${wrong.join(", ")} (the same value on every node), e.g. exportfs -o <options>,fsid=${want} <client>:${e.path}`,
      });
    }
    return { findings };
  },
};
