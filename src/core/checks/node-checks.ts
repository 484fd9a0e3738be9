// Node-wide checks built from the published facts alone.
import type { Check, Finding } from "../doctor.js";
import { listing, plural, withFacts } from "./util.js";

export const exportsOutsideCluster: Check = {
  id: "exports-outside-cluster",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const n of withFacts(input.nodes)) {
      for (const l of n.facts.exportsFile.value ?? []) {
        const e = input.exports.find((x) => {
          const a = x.path.split("/").filter(Boolean);
          const b = l.path.split("/").filter(Boolean);
          return a.length <= b.length && a.every((c, i) => b[i] === c);
        });
        findings.push({
          check: "exports-outside-cluster",
          severity: "warning",
          export: e?.name ?? null,
          nodes: [n.node],
          evidence: `${l.file} line ${l.line} exports cluster path ${l.path} on ${n.node}: ${l.text}`,
          why: "exportfs merges this line into the cluster's export, so this node can export with other options (another fsid)",
          fix: `delete line ${l.line} of ${l.file} on ${n.node}; let the exportfs resource alone export ${l.path}`,
        });
      }
      if (n.facts.nfsServerEnabled.value === true)
        findings.push({
          check: "exports-outside-cluster",
          severity: "warning",
          export: null,
          nodes: [n.node],
          evidence: `nfs-server.service is enabled on ${n.node}`,
          why: "a boot, 'systemctl restart' or reload runs exportfs -r / -au and drops every export Pacemaker added",
          fix: `systemctl disable nfs-server.service on ${n.node} (Pacemaker's nfsserver resource starts it)`,
        });
    }
    return { findings };
  },
};

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

const PORTS = [
  ["mountd", "[mountd] port"],
  ["statd", "[statd] port"],
  ["statdOutgoing", "[statd] outgoing-port"],
  ["lockdTcp", "[lockd] port"],
  ["lockdUdp", "[lockd] udp-port"],
] as const;
const SUGGEST: Record<(typeof PORTS)[number][0], number> = { mountd: 20048, statd: 32765, statdOutgoing: 32766, lockdTcp: 32768, lockdUdp: 32768 };

export const portsUnfixed: Check = {
  id: "ports-unfixed",
  cib: "none",
  run(input) {
    const nodes = withFacts(input.nodes);
    const problems: string[] = [];
    const fixes: string[] = [];
    const concerned = new Set<string>();
    for (const [key, label] of PORTS) {
      const unfixed = nodes.filter((n) => n.facts.ports[key].value === null).map((n) => n.node);
      const vals = nodes.flatMap((n) => (n.facts.ports[key].value === null ? [] : [[n.node, String(n.facts.ports[key].value)] as const]));
      const differ = new Set(vals.map(([, v]) => v)).size > 1;
      if (unfixed.length === 0 && !differ) continue;
      for (const n of differ ? [...vals.map(([n]) => n), ...unfixed] : unfixed) concerned.add(n);
      problems.push(`${label} ${[...vals.map(([n, v]) => `${n}: ${v}`), ...unfixed.map((n) => `${n}: not fixed`)].join(", ")}`);
      fixes.push(`${label.replace("] ", "] ")}=${vals[0]?.[1] ?? String(SUGGEST[key])}`);
    }
    if (problems.length === 0) return { findings: [] };
    return {
      findings: [
        {
          check: "ports-unfixed",
          severity: "warning",
          export: null,
          nodes: [...concerned].sort(),
          evidence: problems.join("; "),
          why: "NFSv3 clients, firewalls and portblock expect mountd, statd and lockd on the same ports after failover",
          fix: `in /etc/nfs.conf on every node set ${fixes.join(", ")}`,
        },
      ],
    };
  },
};

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
