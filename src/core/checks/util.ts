// Helpers shared by the doctor checks. Pure.
import type { CibExport } from "../cib.js";
import type { NodeInput } from "../doctor.js";
import type { ExportDef } from "../exports.js";
import type { ExportFacts, NodeFacts } from "../facts.js";

export type WithFacts = NodeInput & { readonly facts: NodeFacts };

export function withFacts(nodes: readonly NodeInput[]): WithFacts[] {
  return nodes.filter((n): n is WithFacts => n.facts !== null);
}

export function comps(p: string): string {
  return p.split("/").filter((c) => c !== "").join("/");
}

export function samePath(a: string, b: string): boolean {
  return comps(a) === comps(b);
}

/**
 * The export's path sits on the node's root filesystem: the export's own
 * volume is not mounted there, so what the node's etab says about the path
 * (an /etc/exports line loaded at boot) is not how it serves the cluster's
 * data; the cluster's exportfs sets it again at takeover.
 */
export function offVolume(x: ExportFacts): boolean {
  return x.fs.value !== null && x.fs.value.mountPoint === "/";
}

export function exportFacts(n: WithFacts, name: string): ExportFacts | undefined {
  return n.facts.exports[name];
}

/** The configured export a CIB directory stands for. */
export function exportForDir(exports: readonly ExportDef[], dir: string): ExportDef | undefined {
  return exports.find((e) => samePath(e.path, dir));
}

export type CibExportIndex = ReadonlyMap<string, { id: string; fsid: string | null }>;

/** Directory (normalised) -> the exportfs primitive exporting it and the fsid it sets (first one wins). */
export function indexCibExports(cibExports: readonly CibExport[]): CibExportIndex {
  const m = new Map<string, { id: string; fsid: string | null }>();
  for (const c of cibExports)
    c.directories.forEach((d, i) => {
      const k = comps(d);
      if (!m.has(k)) m.set(k, { id: c.id, fsid: c.fsids[i] ?? null });
    });
  return m;
}

/** The exportfs primitive exporting a configured export, and the fsid it sets. */
export function cibExportOf(index: CibExportIndex, path: string): { id: string; fsid: string | null } | undefined {
  return index.get(comps(path));
}

/** Numeric fsids compare as numbers (011 = 11); UUIDs case-insensitively without separators. */
export function normFsid(v: string): string {
  if (/^\d+$/.test(v)) return String(Number(v));
  if (v === "root") return "0";
  return v.toLowerCase().replace(/[-:]/g, "");
}

/** "a: x, b: y" */
export function listing(pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([a, b]) => `${a}: ${b}`).join(", ");
}

export function nextFreeFsid(used: Iterable<string>): number {
  let max = 0;
  for (const u of used) if (/^\d+$/.test(u)) max = Math.max(max, Number(u));
  return max + 1;
}

export function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on|y)$/i.test(v);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}
