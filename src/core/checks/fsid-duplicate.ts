// fsid-duplicate: two exports that share an fsid (or a filesystem UUID):
// mountd serves the first one for both, i.e. the wrong filesystem.
import { cibExports } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { comps, nextFreeFsid, normFsid, withFacts } from "./util.js";

export const fsidDuplicate: Check = {
  id: "fsid-duplicate",
  cib: "optional",
  run(input) {
    const findings: Finding[] = [];
    const nodes = withFacts(input.nodes);
    const exportOfPath = (p: string) => input.exports.find((e) => comps(e.path) === comps(p))?.name ?? null;
    const used: string[] = [];
    // fsid -> path -> where seen
    const byFsid = new Map<string, Map<string, Set<string>>>();
    const note = (fsid: string, path: string, where: string) => {
      used.push(fsid);
      const k = normFsid(fsid);
      let m = byFsid.get(k);
      if (!m) byFsid.set(k, (m = new Map()));
      const p = comps(path);
      if (!m.has(p)) m.set(p, new Set());
      m.get(p)!.add(where);
    };
    for (const n of nodes) {
      for (const l of n.facts.etab.value ?? []) if (l.fsid !== null) note(l.fsid, l.path, n.node);
      for (const e of input.exports) {
        const s = n.facts.exports[e.name]?.served;
        if (s?.fsid && !s.fsid.startsWith("uuid:")) note(s.fsid, e.path, n.node);
      }
    }
    if (input.cib) for (const c of cibExports(input.cib)) c.directories.forEach((d, i) => c.fsids[i] && note(c.fsids[i]!, d, `CIB ${c.id}`));
    const free = nextFreeFsid(used);
    for (const [fsid, paths] of byFsid) {
      if (paths.size < 2) continue;
      const list = [...paths.keys()].map((p) => `/${p}`);
      const where = new Set([...paths.values()].flatMap((s) => [...s]));
      findings.push({
        check: "fsid-duplicate",
        severity: "critical",
        export: exportOfPath(list[1]!) ?? exportOfPath(list[0]!),
        nodes: [...where].filter((w) => !w.startsWith("CIB ")).sort(),
        evidence: `fsid ${fsid} is used by ${list.join(" and ")} (seen on ${[...where].sort().join(", ")})`,
        why: "mountd resolves the shared fsid to the first export (\"same filehandle\"): clients of the other get the wrong filesystem",
        fix: `give ${list[1]} its own fsid (e.g. fsid=${free}); for a multi-directory exportfs resource remember it uses fsid, fsid+1, ...`,
      });
    }
    // Two different filesystems (mount points) behind different exports with one UUID.
    const byUuid = new Map<string, Map<string, { mp: string; nodes: Set<string> }>>();
    for (const n of nodes)
      for (const e of input.exports) {
        const fs = n.facts.exports[e.name]?.served?.fs;
        if (!fs?.uuid) continue;
        let m = byUuid.get(fs.uuid.toLowerCase());
        if (!m) byUuid.set(fs.uuid.toLowerCase(), (m = new Map()));
        const cur = m.get(e.name) ?? { mp: fs.mountPoint, nodes: new Set<string>() };
        cur.nodes.add(n.node);
        m.set(e.name, cur);
      }
    for (const [uuid, m] of byUuid) {
      const mps = new Set([...m.values()].map((v) => comps(v.mp)));
      if (m.size < 2 || mps.size < 2) continue;
      const names = [...m.keys()].sort();
      findings.push({
        check: "fsid-duplicate",
        severity: "critical",
        export: names[1]!,
        nodes: [...new Set([...m.values()].flatMap((v) => [...v.nodes]))].sort(),
        evidence: `exports ${names.join(" and ")} are on different filesystems with the same UUID ${uuid}`,
        why: "without fsid= both handles carry the same UUID, and when both land on one node mountd serves the first filesystem for both",
        fix: `set a distinct fsid= on each (or give the cloned filesystem a new UUID: tune2fs -U random / xfs_admin -U generate)`,
      });
    }
    return { findings };
  },
};
