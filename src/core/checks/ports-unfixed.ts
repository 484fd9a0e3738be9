// ports-unfixed: NFSv3 side ports (mountd, statd, lockd) not fixed or not equal on all nodes.
import type { Check } from "../doctor.js";
import { withFacts } from "./util.js";

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
      problems.push(`${label} ${[...vals.map(([n, v]) => `${n}: ${v}`), ...unfixed.map((n) => `${n}: not set in nfs.conf`)].join(", ")}`);
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
