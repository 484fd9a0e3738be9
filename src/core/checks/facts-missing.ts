// facts-missing: a configured node published no facts, or only old ones.
import type { Check, Finding } from "../doctor.js";

export const factsMissing: Check = {
  id: "facts-missing",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const n of input.nodes) {
      if (n.facts === null) {
        findings.push({
          check: "facts-missing",
          severity: "warning",
          export: null,
          nodes: [n.node],
          evidence: `node ${n.node} has published no facts${n.problem ? ` (${n.problem})` : ""}`,
          why: "doctor cannot compare this node's fsids, filesystems and scope with the others",
          fix: `run 'rmtabsync record' (or reconcile) on ${n.node}`,
        });
        continue;
      }
      const at = n.checked ?? n.published;
      const age = at === null ? Infinity : input.nowMs - at;
      if (age <= input.maxFactsAgeMs) continue;
      findings.push({
        check: "facts-missing",
        severity: "warning",
        export: null,
        nodes: [n.node],
        evidence: `node ${n.node}'s facts are ${Math.round(age / 60_000)} min old (last collected ${at === null ? "never" : new Date(at).toISOString()})`,
        why: "old facts may not show what that node would serve after a failover",
        fix: `run 'rmtabsync record' on ${n.node} (the rmtabsync resource or timer does it)`,
      });
    }
    return { findings };
  },
};
