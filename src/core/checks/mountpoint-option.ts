// mountpoint-option: without mp, an export whose filesystem is not mounted
// yet exports the empty directory below it.
import { cibExports } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { exportForDir, withFacts } from "./util.js";

const hasMp = (opts: readonly string[]) => opts.some((o) => /^(mp|mountpoint)(=|$)/.test(o));

export const mountpointOption: Check = {
  id: "mountpoint-option",
  cib: "optional",
  run(input) {
    const findings: Finding[] = [];
    for (const e of input.exports) {
      const nodes = withFacts(input.nodes).filter((n) => {
        const x = n.facts.exports[e.name];
        return x?.exported.value === true && !hasMp(x.etabOptions);
      });
      if (nodes.length === 0) continue;
      findings.push({
        check: "mountpoint-option",
        severity: "info",
        export: e.name,
        nodes: nodes.map((n) => n.node),
        evidence: `${e.path} is exported without mp on ${nodes.map((n) => n.node).join(", ")}`,
        why: "if the filesystem is not mounted yet, the empty directory underneath is exported and clients see ESTALE instead of waiting",
        fix: `add mp to the export options of ${e.path}`,
      });
    }
    if (input.cib)
      for (const c of cibExports(input.cib)) {
        if (hasMp(c.options)) continue;
        const ex = c.directories.map((d) => exportForDir(input.exports, d)).find((x) => x !== undefined);
        if (ex && findings.some((f) => f.export === ex.name)) continue;
        findings.push({
          check: "mountpoint-option",
          severity: "info",
          export: ex?.name ?? null,
          nodes: [],
          evidence: `exportfs resource ${c.id} has no mp in options`,
          why: "if the filesystem is not mounted yet, the empty directory underneath is exported",
          fix: `pcs resource update ${c.id} options=${[...c.options, "mp"].join(",")}`,
        });
      }
    return { findings };
  },
};
