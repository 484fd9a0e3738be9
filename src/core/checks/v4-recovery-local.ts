// v4-recovery-local: NFSv4 clients hold state on a node whose nfsdcld database
// (the clients allowed to reclaim after a failover) lies on a node-local
// filesystem, so the node that takes the export over does not know them.
import type { Check, Finding } from "../doctor.js";
import { plural, withFacts } from "./util.js";

/** File system types every node of a cluster reads the same: a database there follows no failover, but is not lost either. */
const CLUSTER_FS = new Set(["gfs2", "ocfs2", "nfs", "nfs4", "glusterfs", "ceph", "cephfs", "lustre"]);

export const v4RecoveryLocal: Check = {
  id: "v4-recovery-local",
  cib: "none",
  run(input) {
    const findings: Finding[] = [];
    for (const n of withFacts(input.nodes)) {
      const cld = n.facts.nfsdcld?.value;
      if (!cld) continue;
      const m = cld.mount;
      // replicated: the database sits on an export's own volume (it fails over
      // with it), on a DRBD device, or on a cluster filesystem
      const exportDevices = new Set(Object.values(n.facts.exports).flatMap((x) => (x.fs.value ? [x.fs.value.device] : [])));
      if (exportDevices.has(m.device) || m.source.startsWith("/dev/drbd") || CLUSTER_FS.has(m.type)) continue;
      for (const e of input.exports) {
        if (e.nodes.length < 2) continue;
        const c = n.facts.exports[e.name]?.v4State.value;
        if (!c || c.opens + c.locks + c.delegations + c.other === 0) continue;
        findings.push({
          check: "v4-recovery-local",
          severity: "critical",
          export: e.name,
          nodes: [n.node],
          evidence: `${n.node} holds NFSv4 state on ${e.path} (${plural(c.opens, "open")}, ${plural(c.locks, "lock")}) and keeps nfsdcld's database in ${cld.dir} on ${m.mountPoint} (${m.type} ${m.source}), a node-local filesystem`,
          why: "the node that takes the export over does not find these clients in its nfsdcld database: it refuses their reclaims and their locks are lost (another client can take them)",
          fix: `on every node set [nfsdcld] storagedir= in /etc/nfs.conf to a directory on the group's replicated volume (or put /var/lib/nfs there: nfsserver's nfs_shared_infodir), and start nfsd after that volume`,
        });
      }
    }
    return { findings };
  },
};
