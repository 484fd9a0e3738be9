// Node facts for doctor check tests, built by the real parsers from file
// contents in their real formats (see test/fixtures/system/).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExportDef } from "../../src/core/exports.js";
import type { ExportsLine } from "../../src/core/exports-file.js";
import { buildFacts, known, type NodeFacts, type Read } from "../../src/core/facts.js";
import { emptyNfsConf, parseNfsConf } from "../../src/core/nfs-conf.js";
import { parseNfsdStates } from "../../src/core/nfsd-states.js";
import { rpcNfsdScopeSupport } from "../../src/io/facts.js";
import { ROOT } from "./cluster.js";

export const SYSTEM = join(ROOT, "test/fixtures/system");
export const fixture = (name: string) => readFileSync(join(SYSTEM, name), "utf8");

/** An rpc.nfsd that reads [nfsd] scope (a stand-in holding the string nfs-utils 2.6.3's binary holds). */
export const RPC_NFSD_SCOPE = join(SYSTEM, "rpc.nfsd-2.6.3");
/** Debian 12's rpc.nfsd (nfs-utils 2.6.2, installed here): no scope support. */
export const RPC_NFSD_DEBIAN12 = "/usr/sbin/rpc.nfsd";

export const EXPORTS: ExportDef[] = [
  { name: "vm0", path: "/srv/vm0", nodes: ["ds03", "ds04"] },
  { name: "vm1", path: "/srv/vm1", nodes: ["ds03", "ds04"] },
  { name: "sha", path: "/srv/shared/a", nodes: ["ds03", "ds04"] },
  { name: "shb", path: "/srv/shared/b", nodes: ["ds03", "ds04"] },
];

/** As Debian 12's exportfs (nfs-utils 2.6.2) writes it for "rw,sync,no_subtree_check,mp,fsid=N". */
export const HEALTHY_ETAB = [
  "/srv/vm0\t10.0.0.0/24(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid=11,mountpoint,anonuid=65534,anongid=65534,sec=sys,rw,root_squash,no_all_squash)",
  "/srv/vm1\t10.0.0.0/24(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,secure_locks,acl,no_pnfs,fsid=12,mountpoint,anonuid=65534,anongid=65534,sec=sys,rw,root_squash,no_all_squash)",
  "",
].join("\n");

export interface NodeOpts {
  etab?: string | null;
  proc?: string | null;
  mountinfo?: string;
  blkid?: Map<string, Record<string, string>>;
  nfsConf?: string;
  lease?: string | null;
  fhKey?: { file: string; sha256: string } | null;
  enabled?: boolean;
  exportsLines?: ExportsLine[];
  states?: string | null;
  rmtabBad?: { line: number; problem: string }[];
  hostname?: string;
  previous?: NodeFacts;
  /** The rpc.nfsd binary read for scope support (default RPC_NFSD_SCOPE). */
  rpcNfsd?: string;
  /** /proc/fs/nfsd/versions (null: unreadable) and threads. */
  versions?: string | null;
  threads?: string | null;
}

const text = (file: string, t: string | null | undefined): Read =>
  t === null || t === undefined ? { file, reason: `${file} does not exist`, missing: true } : { file, text: t };

export const BLKID = new Map([
  ["/dev/drbd10", { DEVNAME: "/dev/drbd10", UUID: "5b0a3c52-8f57-4c1e-9d51-2f1d3a6b7c10", TYPE: "ext4" }],
  ["/dev/drbd11", { DEVNAME: "/dev/drbd11", UUID: "0e4d2a8c-61f0-4d5e-8c6b-7a9f1e2d3c4b", TYPE: "xfs" }],
]);

/** A healthy node unless told otherwise. */
export function nodeFacts(o: NodeOpts = {}): NodeFacts {
  const conf = emptyNfsConf();
  const confText = o.nfsConf ?? fixture("nfs.conf");
  parseNfsConf(confText, "/etc/nfs.conf", conf);
  return buildFacts({
    hostname: o.hostname ?? "ds03",
    exports: EXPORTS,
    etab: text("/var/lib/nfs/etab", o.etab === undefined ? HEALTHY_ETAB : o.etab),
    procExports: text("/proc/net/rpc/nfsd.export/content", o.proc === undefined ? null : o.proc),
    mountinfo: { file: "/proc/self/mountinfo", text: o.mountinfo ?? fixture("mountinfo") },
    blkid: o.blkid ?? BLKID,
    nfsConf: conf,
    nfsConfRead: { file: "/etc/nfs.conf", text: confText },
    leaseTime: text("/proc/fs/nfsd/nfsv4leasetime", o.lease === undefined ? "90\n" : o.lease),
    graceTime: text("/proc/fs/nfsd/nfsv4gracetime", "90\n"),
    fhKey: o.fhKey ?? null,
    nfsServerEnabled: known(o.enabled ?? false, "test"),
    exportsFile: known(o.exportsLines ?? [], "/etc/exports"),
    nfsdStates: o.states === null ? { reason: "/proc/fs/nfsd/clients does not exist" } : parseNfsdStates(o.states ?? ""),
    rmtabMalformed: known(o.rmtabBad ?? [], "/var/lib/nfs/rmtab"),
    nfsdScopeSupport: rpcNfsdScopeSupport(o.rpcNfsd ?? RPC_NFSD_SCOPE),
    nfsdVersions: text("/proc/fs/nfsd/versions", o.versions === undefined ? "-2 +3 +4 +4.1 +4.2\n" : o.versions),
    nfsdThreads: text("/proc/fs/nfsd/threads", o.threads === undefined ? "8\n" : o.threads),
    previous: o.previous,
    nowMs: 1_795_000_000_000,
  });
}
