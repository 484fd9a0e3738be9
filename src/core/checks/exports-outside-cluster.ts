// exports-outside-cluster: a cluster export path in /etc/exports, or nfs-server.service enabled.
import type { Check, Finding } from "../doctor.js";
import { withFacts } from "./util.js";

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
