// export-on-two-nodes: the facts of two or more nodes say each exports the
// same export now. An export lives on one node at a time; two means a
// filesystem mounted on both, or an export left behind by a failed stop.
import type { Check, Finding } from "../doctor.js";
import { offVolume, withFacts } from "./util.js";

export const exportOnTwoNodes: Check = {
  id: "export-on-two-nodes",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    // facts older than --facts-max-age are facts-missing's business, not evidence of exporting now
    const fresh = withFacts(input.nodes).filter((n) => {
      const at = n.checked ?? n.published;
      return at !== null && input.nowMs - at <= input.maxFactsAgeMs;
    });
    for (const e of input.exports) {
      // a node whose etab lists the path while the export's volume is not
      // mounted there serves an empty directory, not the data
      // (exports-outside-cluster warns about the /etc/exports line)
      const nodes = fresh
        .filter((n) => {
          const x = n.facts.exports[e.name];
          return x?.exported.value === true && !offVolume(x);
        })
        .map((n) => n.node);
      if (nodes.length < 2) continue;
      findings.push({
        check: "export-on-two-nodes",
        severity: "critical",
        export: e.name,
        nodes,
        evidence: `${e.path} is exported on ${nodes.join(" and ")} at once (each node's etab lists it)`,
        why: "an export lives on one node at a time: clients that reach the other node see another mount of the filesystem (or an empty directory) and their handles go stale when it moves; each node's rmtab counts them apart",
        fix: `on every node but the one running ${e.name}'s exportfs resource: exportfs -u '*:${e.path}' (and remove ${e.path} from /etc/exports there); then check why the resource's stop left it exported`,
      });
    }
    return { findings };
  },
};
