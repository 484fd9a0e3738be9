// /proc/self/mountinfo (proc(5)):
//   36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue
// Fields with spaces are \ooo escaped. Pure.
import { unescapeEtabPath } from "./etab.js";

export interface MountEntry {
  readonly device: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly source: string;
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-", 6);
    if (f.length < 10 || sep < 0 || !/^\d+:\d+$/.test(f[2] ?? "")) continue;
    out.push({ device: f[2]!, mountPoint: unescapeEtabPath(f[4]!), fsType: f[sep + 1] ?? "", source: unescapeEtabPath(f[sep + 2] ?? "") });
  }
  return out;
}

function parts(p: string): string[] {
  return p.split("/").filter((c) => c !== "");
}

/** The mount a path lives on: the last-mounted entry whose mount point is the longest prefix. */
export function mountOf(mounts: readonly MountEntry[], path: string): MountEntry | undefined {
  const want = parts(path);
  let best: MountEntry | undefined;
  let bestLen = -1;
  for (const m of mounts) {
    const mp = parts(m.mountPoint);
    if (mp.length > want.length || mp.length < bestLen) continue;
    if (mp.every((c, i) => want[i] === c)) {
      best = m;
      bestLen = mp.length;
    }
  }
  return best;
}

/** `blkid -o export` output: blocks of KEY=value separated by blank lines, keyed by DEVNAME. */
export function parseBlkidExport(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const block of text.split(/\n\s*\n/)) {
    const rec: Record<string, string> = {};
    for (const l of block.split("\n")) {
      const i = l.indexOf("=");
      if (i > 0) rec[l.slice(0, i)] = l.slice(i + 1);
    }
    if (rec.DEVNAME) out.set(rec.DEVNAME, rec);
  }
  return out;
}
