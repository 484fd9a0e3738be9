// The control volume: its marker (which cluster it belongs to) and journals.
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { journalFile, paths, type Config } from "../config.js";
import { errorMessage, EXIT, ExitError, fsProblem, JournalError, RefusedError } from "../errors.js";
import { isBranchFile, nodeOfFile, readJournal, type ReadJournal } from "./journal.js";
import { writeFileAtomic } from "./files.js";

export interface Marker {
  readonly cluster: string;
  readonly format: number;
  readonly created: string;
}

export function readMarker(file: string): Marker | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const m = JSON.parse(text) as Partial<Marker>;
    if (typeof m.cluster !== "string") throw new Error("no cluster name");
    return { cluster: m.cluster, format: Number(m.format ?? 1), created: String(m.created ?? "") };
  } catch (err) {
    throw new RefusedError(`control volume marker ${file} is unreadable: ${errorMessage(err)}`);
  }
}

/** Refuses (exit 3) unless the control volume is mounted and belongs to this cluster. */
export function requireMarker(cfg: Config): Marker {
  const file = paths(cfg).marker;
  const m = readMarker(file);
  if (!m)
    throw new RefusedError(
      `control volume marker ${file} is missing: is the control volume mounted on ${cfg.controlDir}? (run 'rmtabsync init' once on a mounted volume); nothing was changed`,
    );
  if (m.cluster !== cfg.cluster)
    throw new RefusedError(`control volume ${cfg.controlDir} belongs to cluster "${m.cluster}", not "${cfg.cluster}"; nothing was changed`);
  return m;
}

/** Creates the layout and marker; returns what it created. Idempotent. */
export function initControl(cfg: Config, now: Date): { created: string[] } {
  const p = paths(cfg);
  const created: string[] = [];
  try {
    if (!statSync(cfg.controlDir).isDirectory()) throw new Error("not a directory");
  } catch (err) {
    throw new RefusedError(`control directory ${cfg.controlDir} is not usable (${errorMessage(err)}): mount the control volume first`);
  }
  const existing = readMarker(p.marker);
  if (existing && existing.cluster !== cfg.cluster)
    throw new RefusedError(`control volume ${cfg.controlDir} belongs to cluster "${existing.cluster}", not "${cfg.cluster}"`);
  if (!existing) {
    writeFileAtomic(p.marker, `${JSON.stringify({ cluster: cfg.cluster, format: 1, created: now.toISOString() })}\n`);
    created.push(p.marker);
  }
  try {
    statSync(p.journals);
  } catch {
    mkdirSync(p.journals, { mode: 0o755 });
    created.push(p.journals);
  }
  return { created };
}

export type ProblemKind = "unreadable" | "missing" | "rolled-back" | "forked" | "gone";

export interface JournalProblem {
  readonly file: string;
  readonly node: string;
  readonly problem: string;
  /** unreadable/missing: a journal cannot be read; rolled-back/forked/gone: split-brain or restored backup (critical). */
  readonly kind?: ProblemKind;
}

export interface JournalSet {
  readonly journals: ReadJournal[];
  readonly problems: JournalProblem[];
}

export function listJournalFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    // a failure, not a refusal (exit 1): nothing was asked that this would protect
    throw new ExitError(`journals directory ${dir} ${fsProblem(err)}: is the control volume mounted (and 'rmtabsync init' run on it)?`, EXIT.failure, { cause: err });
  }
  return names
    .filter((n) => n.endsWith(".sqlite"))
    .sort()
    .map((n) => join(dir, n));
}

/**
 * Reads every journal in the volume except `skip` (the caller's own, read
 * read-write elsewhere). Configured nodes without a journal are problems.
 */
export function readJournals(cfg: Pick<Config, "controlDir" | "nodes"> & { cluster?: string }, opts: { skipFile?: string; events?: boolean; interest?: ReadonlyMap<string, readonly number[]> } = {}): JournalSet {
  const dir = paths(cfg as Config).journals;
  const journals: ReadJournal[] = [];
  const problems: JournalProblem[] = [];
  const present = new Set<string>();
  for (const file of listJournalFiles(dir)) {
    if (!isBranchFile(file)) present.add(nodeOfFile(file));
    if (file === opts.skipFile) continue;
    try {
      journals.push(readJournal(file, cfg.cluster, { events: opts.events, interest: opts.interest }));
    } catch (err) {
      problems.push({ file, node: nodeOfFile(file), problem: err instanceof JournalError ? err.problem : errorMessage(err), kind: "unreadable" });
    }
  }
  for (const node of cfg.nodes) {
    if (!present.has(node))
      problems.push({ file: journalFile(dir, node), node, problem: `no journal for configured node ${node} (run 'rmtabsync init' there)`, kind: "missing" });
  }
  return { journals, problems };
}
