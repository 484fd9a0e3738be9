// fh-key-mismatch: handle-signing key hashes differ between nodes.
import type { Check } from "../doctor.js";
import { listing, withFacts } from "./util.js";

export const fhKeyMismatch: Check = {
  id: "fh-key-mismatch",
  cib: "none",
  run(input) {
    const vals = withFacts(input.nodes).flatMap((n) => (n.facts.fhKey.value === null ? [] : [[n.node, n.facts.fhKey.value] as const]));
    if (new Set(vals.map(([, v]) => v)).size <= 1) return { findings: [] };
    return {
      findings: [
        {
          check: "fh-key-mismatch",
          severity: "critical",
          export: null,
          nodes: vals.map(([n]) => n),
          evidence: `handle-signing key ${listing(vals.map(([n, v]) => [n, v === "none" ? "none" : `sha256:${v.slice(0, 12)}`] as const))}`,
          why: "signed handles (sign_fh) from one node fail verification on another: every handle is stale after failover",
          fix: "copy the same [nfsd] fh-key-file to every node (same path in /etc/nfs.conf), or drop sign_fh everywhere",
        },
      ],
    };
  },
};
