// export-on-two-nodes: the facts of two or more nodes say each exports the
// same export now. An export lives on one node at a time; two means a
// filesystem mounted on both, or an export left behind by a failed stop.
import type { Check, Finding } from "../doctor.js";
import { withFacts } from "./util.js";

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
      const nodes = fresh.filter((n) => n.facts.exports[e.name]?.exported.value === true).map((n) => n.node);
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
