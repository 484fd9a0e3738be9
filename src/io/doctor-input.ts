// Reads what doctor needs: refreshes this node's facts, reads every node's
// newest facts from the journals, and gets the CIB (--cib FILE, else
// `cibadmin -Q`). The checks themselves are pure (src/core/checks/).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { controlUnits, journalFile, paths, type Config } from "../config.js";
import type { Cib } from "../core/cib.js";
import type { NodeInput } from "../core/doctor.js";
import { errorMessage, JournalError, UsageError } from "../errors.js";
import { listJournalFiles, readMarker, requireMarker } from "./control.js";
import { asNodeFacts, publishOwnFacts } from "./facts.js";
import { nodeOfFile, OwnJournal, readJournalFacts, type JournalFacts } from "./journal.js";

export interface CibSource {
  readonly cib: Cib | null;
  readonly reason: string;
}

/** --cib FILE, else `cibadmin -Q` when installed and answering; else null with the reason. */
export async function loadCib(file: string | undefined, cibadmin = "cibadmin"): Promise<CibSource> {
  // The XML parser loads only when a CIB is read (keeps record/reconcile start-up fast).
  const { CibError, parseCib } = await import("../core/cib-parse.js");
  if (file !== undefined) {
    let xml: string;
    try {
      xml = readFileSync(file, "utf8");
    } catch (err) {
      throw new UsageError(`--cib: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
    }
    try {
      return { cib: parseCib(xml), reason: "" };
    } catch (err) {
      throw new UsageError(`--cib: ${file}: ${err instanceof CibError ? err.message : errorMessage(err)}`);
    }
  }
  const r = spawnSync(cibadmin, ["-Q"], { encoding: "utf8", timeout: 15_000, maxBuffer: 256 * 1024 * 1024 });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    return { cib: null, reason: code === "ENOENT" ? "no CIB: cibadmin is not installed here and no --cib FILE was given" : `no CIB: cibadmin -Q failed (${code ?? errorMessage(r.error)})` };
  }
  if (r.status !== 0) return { cib: null, reason: `no CIB: cibadmin -Q exited ${r.status ?? r.signal} (${r.stderr.trim().split("\n")[0]?.slice(0, 160) ?? ""})` };
  try {
    return { cib: parseCib(r.stdout), reason: "" };
  } catch (err) {
    return { cib: null, reason: `no CIB: cibadmin -Q printed something unparsable (${errorMessage(err)})` };
  }
}

/** Refreshes this node's facts (when it has a journal) and reads every node's newest facts. */
export function readNodeInputs(cfg: Config, self: string, nowMs: number, warn: (m: string) => void): NodeInput[] {
  requireMarker(cfg);
  const ownFile = journalFile(paths(cfg).journals, self);
  try {
    const own = OwnJournal.open(ownFile, { cluster: cfg.cluster, node: self, create: false, now: new Date(nowMs) });
    try {
      publishOwnFacts(cfg, own, nowMs);
    } finally {
      own.close();
    }
  } catch (err) {
    warn(`could not refresh this node's facts: ${errorMessage(err)}`);
  }
  // Facts only: the events are not needed, and journals can be large.
  const found = new Map<string, JournalFacts | { problem: string }>();
  for (const file of listJournalFiles(paths(cfg).journals)) {
    try {
      found.set(nodeOfFile(file), readJournalFacts(file, cfg.cluster));
    } catch (err) {
      found.set(nodeOfFile(file), { problem: err instanceof JournalError ? err.problem : errorMessage(err) });
    }
  }
  return cfg.nodes.map((node) => {
    const j = found.get(node);
    if (j === undefined) return { node, facts: null, published: null, checked: null, problem: `no journal for configured node ${node} (run 'rmtabsync init' there)` };
    if ("problem" in j) return { node, facts: null, published: null, checked: null, problem: j.problem };
    const facts = asNodeFacts(j.facts) ?? null;
    return {
      node,
      facts,
      published: j.facts?.wall ?? null,
      checked: j.factsChecked ?? null,
      problem: !j.facts ? "never published (run 'rmtabsync record' there)" : !facts ? `facts format ${j.facts.format} not understood` : null,
    };
  });
}

export interface NodeInputs {
  readonly nodes: NodeInput[];
  /** What could not be compared, and why (doctor's `skipped`, check facts-missing). */
  readonly skipped: string[];
}

/**
 * One node's inputs from two control directories: facts before none, the
 * later collection for the node-wide facts, and each export's facts from
 * whichever volume has them (a group's volume carries its own exports').
 */
function fresher(a: NodeInput, b: NodeInput): NodeInput {
  if (a.facts === null) return b.facts === null && a.problem === null ? a : b;
  if (b.facts === null) return a;
  const [base, other] = (b.checked ?? b.published ?? 0) > (a.checked ?? a.published ?? 0) ? [b, a] : [a, b];
  return { ...base, facts: { ...base.facts!, exports: { ...other.facts!.exports, ...base.facts!.exports } } };
}

/**
 * Every node's newest facts over the control directories readable here.
 * Without groups: the shared volume (readNodeInputs, unchanged). With
 * groups, a group's volume is mounted only where the group runs and holds
 * the journals of the nodes that served it: a node whose journal no
 * control directory here holds is not compared (listed under skipped),
 * never reported as a fault.
 */
export function readNodeInputsAll(cfg: Config, self: string, nowMs: number, warn: (m: string) => void): NodeInputs {
  if (cfg.groups.length === 0) return { nodes: readNodeInputs(cfg, self, nowMs, warn), skipped: [] };
  const best = new Map<string, NodeInput>();
  const skipped: string[] = [];
  const read: string[] = [];
  for (const unit of controlUnits(cfg)) {
    const dir = unit.cfg.controlDir;
    if (unit.group !== undefined && (!existsSync(dir) || readMarker(paths(unit.cfg).marker) === undefined)) continue;
    let inputs: NodeInput[];
    try {
      inputs = readNodeInputs(unit.cfg, self, nowMs, warn);
    } catch (err) {
      skipped.push(`${unit.group !== undefined ? `group ${unit.name}` : "the shared control directory"} (${dir}) not read: ${errorMessage(err)}`);
      continue;
    }
    read.push(unit.group !== undefined ? `group ${unit.name}` : "the shared control directory");
    for (const n of inputs) {
      // in a group's volume, no journal of a node is normal: it never served the group
      if (unit.group !== undefined && n.facts === null && n.problem !== null && n.problem.startsWith("no journal for configured node")) continue;
      const had = best.get(n.node);
      best.set(n.node, had ? fresher(had, n) : n);
    }
  }
  const missing = cfg.nodes.filter((n) => !best.has(n));
  if (missing.length > 0)
    skipped.push(
      `facts of ${missing.join(", ")} not compared: ${read.length === 0 ? "no control directory is mounted here" : `no control directory mounted here (${read.join(", ")}) holds ${missing.length === 1 ? "its journal" : "their journals"}`} (per export group, a node's facts are read from the group volumes mounted here)`,
    );
  return { nodes: cfg.nodes.flatMap((n) => best.get(n) ?? []), skipped };
}
