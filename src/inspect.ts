import { existsSync } from "node:fs";
// Offline views of the journals: the cluster-wide table and the history.
// Reads journals read-only; needs no rmtab and changes nothing.
import type { Config } from "./config.js";
import { compareEvents, foldEvents, mounted, type JournalEvent } from "./core/events.js";
import { ExportIndex } from "./core/exports.js";
import { hlcJson } from "./core/hlc.js";
import { readJournals, readMarker, type JournalProblem } from "./io/control.js";
import { paths, controlUnits } from "./config.js";
import { nodeOfFile } from "./io/journal.js";
import { asNodeFacts } from "./io/facts.js";
import type { NodeFactsView } from "./commands/facts-format.js";

export interface MountRow {
  readonly client: string;
  readonly path: string;
  readonly count: number;
  readonly export: string | null;
  /** Node that recorded the winning event. */
  readonly node: string;
  /** ISO 8601 (UTC) wall time of that event; `logical` orders stamps within one millisecond. */
  readonly time: string;
  readonly logical: number;
}

export interface EventRow {
  readonly time: string;
  readonly logical: number;
  readonly node: string;
  readonly op: string;
  readonly client: string;
  readonly path: string;
  readonly count: number;
  readonly export: string | null;
  readonly journal: string;
  readonly seq: number;
}

export interface Filters {
  readonly export?: string;
  readonly client?: string;
  readonly origin?: string;
  readonly since?: number;
  readonly until?: number;
}

export interface Loaded {
  readonly events: JournalEvent[];
  readonly problems: JournalProblem[];
  readonly warnings: string[];
  /** Journal id -> file's node name. */
  readonly journalNode: Map<string, string>;
  /** The latest compaction cutoff of any journal. */
  readonly compactedBefore: { wall: number; file: string } | undefined;
}

export function loadAll(cfg: Config): Loaded {
  const warnings: string[] = [];
  const markerFile = paths(cfg).marker;
  try {
    const m = readMarker(markerFile);
    if (!m) warnings.push(`no control volume marker at ${markerFile}: is this a copy of the control volume?`);
    else if (m.cluster !== cfg.cluster) warnings.push(`control volume marker says cluster "${m.cluster}", config says "${cfg.cluster}"`);
  } catch (err) {
    warnings.push(err instanceof Error ? err.message : String(err));
  }
  const set = readJournals(cfg);
  const events: JournalEvent[] = [];
  const journalNode = new Map<string, string>();
  let compactedBefore: Loaded["compactedBefore"];
  for (const j of set.journals) {
    journalNode.set(j.meta.journalId, nodeOfFile(j.file));
    for (const e of j.events) events.push(e);
    if (j.compactedBefore !== undefined && (!compactedBefore || j.compactedBefore > compactedBefore.wall))
      compactedBefore = { wall: j.compactedBefore, file: j.file };
  }
  return { events, problems: set.problems, warnings, journalNode, compactedBefore };
}

export function tableRows(events: readonly JournalEvent[], index: ExportIndex, f: Filters & { at?: number }): MountRow[] {
  const fold = foldEvents(events, { until: f.at });
  const rows: MountRow[] = [];
  for (const e of mounted(fold)) {
    const exp = index.exportOf(e.path)?.name ?? null;
    if (f.export !== undefined && exp !== f.export) continue;
    if (f.client !== undefined && e.client !== f.client) continue;
    rows.push({ client: e.client, path: e.path, count: e.count, export: exp, node: e.node, ...hlcJson(e) });
  }
  rows.sort((a, b) => (a.export ?? "").localeCompare(b.export ?? "") || a.path.localeCompare(b.path) || a.client.localeCompare(b.client));
  return rows;
}

export function eventRows(events: readonly JournalEvent[], index: ExportIndex, journalNode: Map<string, string>, f: Filters): EventRow[] {
  const out: EventRow[] = [];
  const sorted = [...events].sort(compareEvents);
  for (const e of sorted) {
    if (f.since !== undefined && e.wall < f.since) continue;
    if (f.until !== undefined && e.wall > f.until) continue;
    if (f.origin !== undefined && e.node !== f.origin) continue;
    if (f.client !== undefined && e.client !== f.client) continue;
    const exp = index.exportOf(e.path)?.name ?? null;
    if (f.export !== undefined && exp !== f.export) continue;
    out.push({
      ...hlcJson(e),
      node: e.node,
      op: e.op,
      client: e.client,
      path: e.path,
      count: e.count,
      export: exp,
      journal: journalNode.get(e.journal) ?? e.journal,
      seq: e.seq,
    });
  }
  return out;
}

/** Each node's newest published facts (configured nodes first, then any other journal). */
export function factsViews(cfg: Config): NodeFactsView[] {
  const set = readJournals(cfg);
  const views: NodeFactsView[] = [];
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const nodes = [...cfg.nodes, ...set.journals.map((j) => nodeOfFile(j.file)).filter((n) => !cfg.nodes.includes(n))];
  for (const node of nodes) {
    const j = set.journals.find((x) => nodeOfFile(x.file) === node);
    const problem = set.problems.find((p) => p.node === node)?.problem ?? null;
    const facts = asNodeFacts(j?.facts) ?? null;
    views.push({
      node,
      version: j?.facts?.version ?? null,
      published: iso(j?.facts?.wall),
      checked: iso(j?.factsChecked),
      facts,
      problem: problem ?? (j?.facts && !facts ? `facts format ${j.facts.format} is not understood by this version` : j ? "never published" : null),
    });
  }
  return views;
}

/**
 * The journals of every control directory mounted here (the shared one, and
 * each group's whose marker is here), as one: groups never share an export,
 * so their events never compete. With no groups, the one control directory.
 */
export function loadMounted(cfg: Config): Loaded & { units: string[] } {
  if (cfg.groups.length === 0 || cfg.group !== undefined) return { ...loadAll(cfg), units: [cfg.group ?? "shared"] };
  const out = { events: [] as JournalEvent[], problems: [] as JournalProblem[], warnings: [] as string[], journalNode: new Map<string, string>(), units: [] as string[] };
  let compactedBefore: Loaded["compactedBefore"];
  for (const u of controlUnits(cfg)) {
    if (u.group !== undefined && !existsSync(paths(u.cfg).marker)) continue; // not mounted here
    const l = loadAll(u.cfg);
    out.units.push(u.name);
    out.events.push(...l.events);
    out.problems.push(...l.problems);
    out.warnings.push(...l.warnings);
    for (const [k, v] of l.journalNode) out.journalNode.set(k, v);
    if (l.compactedBefore && (!compactedBefore || l.compactedBefore.wall > compactedBefore.wall)) compactedBefore = l.compactedBefore;
  }
  return { ...out, compactedBefore };
}
