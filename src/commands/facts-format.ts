// Text rendering of node facts for `show --facts`.
import { ownScope, type Known, type NodeFacts } from "../core/facts.js";
import { table } from "./common.js";

export interface NodeFactsView {
  readonly node: string;
  readonly version: number | null;
  readonly published: string | null;
  readonly checked: string | null;
  readonly facts: NodeFacts | null;
  readonly problem: string | null;
}

function k<T>(v: Known<T>, show: (x: T) => string = String): string {
  return v.value === null ? "?" : show(v.value);
}

export function factsText(views: readonly NodeFactsView[]): string {
  let out = "";
  for (const v of views) {
    out += `node ${v.node}`;
    if (!v.facts) {
      out += `: no facts${v.problem ? ` (${v.problem})` : ""}\n\n`;
      continue;
    }
    const f = v.facts;
    out += ` (facts v${v.version}, published ${v.published}, checked ${v.checked ?? "?"})\n`;
    const own = ownScope(f.hostname, f.scope.configured, f.nfsdScopeSupport);
    const note = f.scope.configured.value === null ? " (default)" : own.ignored ? ` ([nfsd] scope=${own.ignored.value} ignored by rpc.nfsd)` : "";
    out += `  hostname ${f.hostname}; nfsd scope ${k(own.scope)}${note}; NFS versions ${f.nfsVersions ? k(f.nfsVersions, (v) => v.join(" ") || "none") : "?"}\n`;
    out += `  lease ${k(f.leaseTime)} s, grace ${k(f.graceTime)} s; fh-key ${k(f.fhKey, (s) => (s === "none" ? "none" : `sha256:${s.slice(0, 12)}`))}\n`;
    out += `  ports mountd ${k(f.ports.mountd)}, statd ${k(f.ports.statd)}, statd-outgoing ${k(f.ports.statdOutgoing)}, lockd ${k(f.ports.lockdTcp)}/tcp ${k(f.ports.lockdUdp)}/udp\n`;
    out += `  nfs-server.service enabled: ${k(f.nfsServerEnabled, (b) => (b ? "yes" : "no"))}; /etc/exports lines for cluster paths: ${k(f.exportsFile, (l) => String(l.length))}\n`;
    out += `  rmtab malformed lines: ${k(f.rmtab, (l) => String(l.length))}\n`;
    if (f.nfsdcld) out += `  nfsdcld database: ${k(f.nfsdcld, (c) => `${c.dir} on ${c.mount.mountPoint} (${c.mount.type} ${c.mount.source})`)}\n`;
    const rows = Object.entries(f.exports)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, e]) => [
        name,
        k(e.exported, (b) => (b ? "yes" : "no")),
        e.fsid.value ?? (e.served?.fsid ? `(${e.served.fsid})` : "?"),
        e.fs.value ? e.fs.value.type : "?",
        e.fs.value ? e.fs.value.device : "?",
        e.fs.value ? (e.fs.value.uuid ?? "-") : "?",
        k(e.v4State, (c) => `${c.opens}o/${c.locks}l/${c.delegations}d`),
      ]);
    out += table(["  EXPORT", "EXPORTED", "FSID", "FS", "DEVICE", "UUID", "V4-STATE"], rows.map((r) => [`  ${r[0]}`, ...r.slice(1)]));
    out += "\n";
  }
  if (views.some((v) => v.facts && Object.values(v.facts.exports).some((e) => e.fsid.value === null && e.served?.fsid)))
    out += "(N): the fsid this node served the export with when it last exported it\n";
  return out;
}
