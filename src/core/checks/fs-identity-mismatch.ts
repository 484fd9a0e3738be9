// fs-identity-mismatch: the filesystem behind an export has a different UUID
// on different nodes: it is not the same (block-replicated) filesystem.
import type { Check, Finding } from "../doctor.js";
import { listing, withFacts } from "./util.js";

export const fsIdentityMismatch: Check = {
  id: "fs-identity-mismatch",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const e of input.exports) {
      const seen: [string, string][] = [];
      for (const n of withFacts(input.nodes)) {
        const fs = n.facts.exports[e.name]?.served?.fs;
        if (fs?.uuid) seen.push([n.node, fs.uuid]);
      }
      if (new Set(seen.map(([, u]) => u.toLowerCase())).size <= 1) continue;
      findings.push({
        check: "fs-identity-mismatch",
        severity: "critical",
        export: e.name,
        nodes: seen.map(([n]) => n),
        evidence: `${e.path} is served from filesystem UUID ${listing(seen)}`,
        why: "handles carry inode and generation numbers of one filesystem; a different filesystem (a copy, not DRBD) makes every handle stale",
        fix: `serve ${e.path} from the same replicated device on every node (check the Filesystem resource's device= and the DRBD resource)`,
      });
    }
    return { findings };
  },
};
