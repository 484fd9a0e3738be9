// /proc/net/rpc/nfsd.export/content: the kernel's export cache, with the
// fsid or uuid in force for each live export (fs/nfsd/export.c svc_export_show):
//   # Version 1.1
//   # Path Client(Flags) # IPs
//   /srv/vm0<TAB>*(rw,no_root_squash,sync,wdelay,no_subtree_check,fsid=11,sec=1)
//   /srv/vm1<TAB>*(rw,...,uuid=8f0c5ba3:2f914e63:a4b2b1f0:22e1d6e2,sec=1)
// Paths are escaped with \ooo octal. A negative cache entry has "()". Pure.
import { unescapeEtabPath } from "./etab.js";

export interface ProcExport {
  readonly path: string;
  readonly client: string;
  readonly flags: readonly string[];
  readonly fsid: string | null;
  readonly uuid: string | null;
}

export function parseProcExports(text: string): ProcExport[] {
  const out: ProcExport[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(\S*?)\((.*)\)\s*$/.exec(line);
    if (!m) continue;
    const flags = m[3]!.split(",").filter((f) => f !== "");
    const opt = (k: string) => flags.find((f) => f.startsWith(`${k}=`))?.slice(k.length + 1) ?? null;
    out.push({ path: unescapeEtabPath(m[1]!), client: unescapeEtabPath(m[2]!), flags, fsid: opt("fsid"), uuid: opt("uuid") });
  }
  return out;
}
