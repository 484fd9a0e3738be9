// Reads what doctor needs: refreshes this node's facts, reads every node's
// newest facts from the journals, and gets the CIB (--cib FILE, else
// `cibadmin -Q`). The checks themselves are pure (src/core/checks/).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { journalFile, paths, type Config } from "../config.js";
import type { Cib } from "../core/cib.js";
import type { NodeInput } from "../core/doctor.js";
import { errorMessage, JournalError, UsageError } from "../errors.js";
import { listJournalFiles, requireMarker } from "./control.js";
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
