// v4-state-at-risk: live NFSv4 opens/locks/delegations on an export that may move.
import type { Check, Finding } from "../doctor.js";
import { plural, withFacts } from "./util.js";

export const v4StateAtRisk: Check = {
  id: "v4-state-at-risk",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const e of input.exports) {
      if (e.nodes.length < 2) continue;
      for (const n of withFacts(input.nodes)) {
        const c = n.facts.exports[e.name]?.v4State.value;
        if (!c || c.opens + c.locks + c.delegations + c.other === 0) continue;
        findings.push({
          check: "v4-state-at-risk",
          severity: "warning",
          export: e.name,
          nodes: [n.node],
          evidence: `${n.node} holds NFSv4 state on ${e.path}: ${plural(c.opens, "open")}, ${plural(c.locks, "lock")}, ${plural(c.delegations, "delegation")}${c.other ? `, ${c.other} other` : ""}`,
          why: "kernel nfsd gives an export that moves onto a running nfsd no grace period: lock reclaims fail with NO_GRACE and the locks are lost",
          fix: `move ${e.name} only when these clients can lose their locks, or run one kernel-nfsd export group per cluster (NFS-Ganesha for several)`,
        });
      }
    }
    return { findings };
  },
};
