// server-scope-mismatch: the NFSv4.1 server scope differs between nodes or
// is left at the hostname default. The scope nfsd runs with: the nfsserver
// resource's nfs_server_scope when it has one (the agent starts nfs-server
// under that hostname), else [nfsd] scope when the node's rpc.nfsd reads it
// (nfs-utils 2.6.3+), else the hostname. Quiet when no node serves NFSv4.1+.
import type { Check } from "../doctor.js";
import { mayServeV41, NFSD_SCOPE_SINCE, ownScope, type OwnScope } from "../facts.js";
import { withFacts } from "./util.js";

interface Candidate {
  readonly value: string;
  /** Shown after the value when the scope comes from the CIB. */
  readonly via?: string;
  /** The node's own scope at the hostname default (no [nfsd] scope, or one rpc.nfsd ignores). */
  readonly hostname?: boolean;
}

export const serverScopeMismatch: Check = {
  id: "server-scope-mismatch",
  cib: "optional",
  run(input) {
    const nodes = withFacts(input.nodes);
    if (!nodes.some((n) => mayServeV41(n.facts))) return { findings: [] };

    const servers = input.cib ? [...input.cib.primitives.values()].filter((p) => p.type === "nfsserver") : [];
    const byScope = new Map<string, string[]>();
    for (const p of servers) {
      const s = p.params.nfs_server_scope;
      if (s) byScope.set(s, [...(byScope.get(s) ?? []), p.id]);
    }
    const unscoped = servers.filter((p) => !p.params.nfs_server_scope).map((p) => p.id);
    // the node's own scope counts unless every nfsserver resource sets one
    const ownCounts = servers.length === 0 || unscoped.length > 0;

    const skipped: string[] = [];
    const rows: { node: string; own: OwnScope | null; candidates: Candidate[] }[] = [];
    for (const n of nodes) {
      const candidates: Candidate[] = [...byScope].map(([value, ids]) => ({ value, via: `nfs_server_scope of ${ids.join(", ")}` }));
      let own: OwnScope | null = null;
      if (ownCounts) {
        own = ownScope(n.facts.hostname, n.facts.scope.configured, n.facts.nfsdScopeSupport);
        if (own.scope.value === null) {
          skipped.push(`${n.node}: scope unknown: ${own.scope.reason}`);
          continue;
        }
        const atHostname = n.facts.scope.configured.value === null || own.ignored !== undefined;
        candidates.push({ value: own.scope.value, hostname: atHostname, via: byScope.size > 0 ? `${unscoped.join(", ")} without nfs_server_scope` : undefined });
      }
      rows.push({ node: n.node, own, candidates });
    }

    const values = new Set(rows.flatMap((r) => r.candidates.map((c) => c.value)));
    const differ = values.size > 1;
    const defaulted = rows.filter((r) => r.own !== null && r.candidates.some((c) => c.hostname) && r.own.ignored === undefined).map((r) => r.node);
    const ignored = rows.filter((r) => r.own?.ignored !== undefined);
    if (!differ && defaulted.length === 0 && ignored.length === 0) return { findings: [], skipped };

    const listed = rows.map((r) => `${r.node}: ${r.candidates.map((c) => (c.via ? `${c.value} (${c.via})` : c.value)).join(" or ")}`).join(", ");
    const dflt = defaulted.length > 0 ? ` (${defaulted.join(", ")} left at the hostname default)` : "";
    const notes = ignored.map(
      (r) =>
        `; ${r.node}: [nfsd] scope=${r.own!.ignored!.value} in ${r.own!.ignored!.where} is ignored by this rpc.nfsd (no scope support before nfs-utils ${NFSD_SCOPE_SINCE}): nfsd runs with the hostname ${r.own!.scope.value}`,
    );

    const configured = nodes.map((n) => n.facts.scope.configured.value).find((v) => v !== null);
    const target = [...byScope.keys()][0] ?? configured ?? "<service IP or cluster name>";
    const restart = "then restart nfsd in a maintenance window";
    const update = servers.filter((p) => p.params.nfs_server_scope !== target).map((p) => `pcs resource update ${p.id} nfs_server_scope=${target}`);
    const readsConf = (node: string) => nodes.find((x) => x.node === node)?.facts.nfsdScopeSupport?.value === true;
    const old = rows.filter((r) => r.own !== null && !readsConf(r.node)).map((r) => r.node);
    let fix: string;
    if (servers.length > 0)
      fix = `${update.join("; ")} in a maintenance window (it restarts nfsd; the nfsserver agent starts nfs-server under that hostname, on any nfs-utils)`;
    else if (old.length === 0) fix = `in /etc/nfs.conf on every node set [nfsd] scope=${target} (or nfs_server_scope on the nfsserver resource), ${restart}`;
    else
      fix = `set nfs_server_scope=${target} on the nfsserver resource that starts nfsd (the agent starts nfs-server under that hostname, on any nfs-utils), or upgrade nfs-utils to ${NFSD_SCOPE_SINCE} or later on ${old.join(", ")} and set [nfsd] scope=${target} in /etc/nfs.conf on every node; ${restart}`;

    return {
      findings: [
        {
          check: "server-scope-mismatch",
          severity: "critical",
          export: null,
          nodes: differ ? rows.map((r) => r.node) : [...defaulted, ...ignored.map((r) => r.node)],
          evidence: `nfsd scope ${listed}${dflt}${notes.join("")}`,
          why: "NFSv4.1 clients reclaim state only when the server scope is unchanged: after failover they get 'server_scope mismatch' and EIO or lose their locks",
          fix,
        },
      ],
      skipped,
    };
  },
};
