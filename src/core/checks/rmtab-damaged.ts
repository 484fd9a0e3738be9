// rmtab-damaged: a node's rmtab has lines mountd would misread.
import type { Check, Finding } from "../doctor.js";
import { plural, withFacts } from "./util.js";

export const rmtabDamaged: Check = {
  id: "rmtab-damaged",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const n of withFacts(input.nodes)) {
      const bad = n.facts.rmtab.value;
      if (!bad || bad.length === 0) continue;
      findings.push({
        check: "rmtab-damaged",
        severity: "warning",
        export: null,
        nodes: [n.node],
        evidence: `rmtab on ${n.node} has ${plural(bad.length, "line")} mountd would misread (${bad
          .slice(0, 3)
          .map((b) => `line ${b.line}: ${b.problem}`)
          .join("; ")})`,
        why: "mountd stops reading rmtab at a malformed line: later clients vanish from showmount and the next UMNT drops them",
        fix: `run 'rmtabsync reconcile' on ${n.node} (it moves the lines to rmtab.quarantine and rewrites rmtab)`,
      });
    }
    return { findings };
  },
};
