// server-scope-mismatch: nfsd scope differs between nodes or is left at the hostname default.
import type { Check } from "../doctor.js";
import { listing, withFacts } from "./util.js";

export const serverScopeMismatch: Check = {
  id: "server-scope-mismatch",
  cib: "none",
  run(input) {
    const nodes = withFacts(input.nodes);
    const scopes = nodes.flatMap((n) => (n.facts.scope.effective.value === null ? [] : [[n.node, n.facts.scope.effective.value] as const]));
    const defaulted = nodes.filter((n) => n.facts.scope.configured.value === null && n.facts.scope.effective.value !== null).map((n) => n.node);
    const differ = new Set(scopes.map(([, s]) => s)).size > 1;
    if (!differ && defaulted.length === 0) return { findings: [] };
    const configured = scopes.find(([n]) => !defaulted.includes(n))?.[1];
    return {
      findings: [
        {
          check: "server-scope-mismatch",
          severity: "critical",
          export: null,
          nodes: differ ? scopes.map(([n]) => n) : defaulted,
          evidence: `nfsd scope ${listing(scopes)}${defaulted.length > 0 ? ` (${defaulted.join(", ")} left at the hostname default)` : ""}`,
          why: "NFSv4.1 clients reclaim state only when the server scope is unchanged: after failover they get 'server_scope mismatch' and EIO",
          fix: `in /etc/nfs.conf on every node set [nfsd] scope=${configured ?? "<service IP or cluster name>"} (or nfs_server_scope on the nfsserver resource), then restart nfsd in a maintenance window`,
        },
      ],
    };
  },
};
