// The control volume: its marker (which cluster it belongs to) and journals.
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { controlDirSpec, journalFile, paths, type Config } from "../config.js";
import { errorMessage, EXIT, ExitError, fsProblem, JournalError, RefusedError } from "../errors.js";
import { isBranchFile, journalStamp, nodeOfFile, readJournal, type ReadJournal } from "./journal.js";
import { writeFileAtomic } from "./files.js";
import { describeVolume, readVolumeRecord, sameFilesystem, volumeIdentity, volumeRecordFile, writeVolumeRecord, type VolumeIdentity } from "./volume.js";

export interface Marker {
  readonly cluster: string;
  readonly format: number;
  readonly created: string;
  /** Random id written by init; markers written before it existed have none (the next init adds it). */
  readonly id?: string;
  /** The export group whose control directory this is; none for the shared control volume. */
  readonly group?: string;
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
    if (m.group !== undefined && typeof m.group !== "string") throw new Error("group is not a name");
    return {
      cluster: m.cluster,
      format: Number(m.format ?? 1),
      created: String(m.created ?? ""),
      ...(typeof m.id === "string" ? { id: m.id } : {}),
      ...(typeof m.group === "string" ? { group: m.group } : {}),
    };
  } catch (err) {
    throw new RefusedError(`control volume marker ${file} is unreadable: ${errorMessage(err)}`);
  }
}

/** The control volume as found: its marker and the filesystem it is on. */
export interface ControlVolume {
  readonly marker: Marker;
  readonly volume: VolumeIdentity;
}

function identityOf(cfg: Config): VolumeIdentity {
  try {
    return volumeIdentity(cfg.controlDir, cfg.system.mountinfo);
  } catch (err) {
    throw new RefusedError(`control directory ${cfg.controlDir} is not usable (${errorMessage(err)}): mount the control volume first; nothing was changed`);
  }
}

function whose(group: string | undefined): string {
  return group === undefined ? "the shared control volume" : `group "${group}"`;
}

/** Why a marker belongs to another group (or to the shared volume, or the other way round); undefined when it is ours. */
function foreignGroup(cfg: Config, m: Marker): string | undefined {
  if (m.group === cfg.group) return undefined;
  return `control directory ${cfg.controlDir} belongs to ${whose(m.group)}, not to ${whose(cfg.group)} (marker ${paths(cfg).marker})`;
}

/**
 * Refuses (exit 3) unless the control volume is mounted, belongs to this
 * cluster, and is the one this node was initialised on: a mount point when
 * the configuration says so (or when it was one at init), the marker id and
 * the filesystem init recorded in <stateDir>/rmtabsync.volume.
 */
export function requireMarker(cfg: Config): ControlVolume {
  const file = paths(cfg).marker;
  const spec = controlDirSpec(cfg);
  const volume = identityOf(cfg);
  const rec = readVolumeRecord(cfg.stateDir, spec.dir);
  const recFile = volumeRecordFile(cfg.stateDir);
  if (spec.mountpoint && (rec?.mountpoint ?? true) && !volume.mountpoint)
    throw new RefusedError(
      `control directory ${spec.dir} is not a mount point: is the control volume mounted there? (a plain directory is allowed only with controlDirIsMountpoint: false in ${cfg.file}); nothing was changed`,
    );
  const m = readMarker(file);
  if (!m)
    throw new RefusedError(
      `control volume marker ${file} is missing: is the control volume mounted on ${cfg.controlDir}? (run 'rmtabsync init' once on a mounted volume); nothing was changed`,
    );
  if (m.cluster !== cfg.cluster)
    throw new RefusedError(`control volume ${cfg.controlDir} belongs to cluster "${m.cluster}", not "${cfg.cluster}"; nothing was changed`);
  const foreign = foreignGroup(cfg, m);
  if (foreign) throw new RefusedError(`${foreign}; nothing was changed`);
  if (rec && rec.markerId !== m.id)
    throw new RefusedError(
      `control volume marker ${file} has id ${m.id ?? "(none)"}, but this node was initialised on marker ${rec.markerId} (${recFile}): an old copy, or the volume is not mounted? If the volume was re-created on purpose, run 'rmtabsync init --force'; nothing was changed`,
    );
  if (rec && !sameFilesystem(rec, volume))
    throw new RefusedError(
      `control directory ${spec.dir} is on another filesystem (${describeVolume(volume)}) than the one this node was initialised on (${describeVolume(rec)}, ${recFile}): a copy, or the volume is not mounted? If the volume really moved, run 'rmtabsync init --force'; nothing was changed`,
    );
  return { marker: m, volume };
}

/**
 * Creates the layout and marker, gives an old marker its id, and records the
 * volume's identity for this node; returns what it created. Idempotent.
 * Refuses a control directory that is not a mount point (when the
 * configuration wants one) or not the volume recorded before, unless `force`.
 */
export function initControl(cfg: Config, now: Date, opts: { force?: boolean } = {}): { created: string[]; marker: Marker; volume: VolumeIdentity } {
  const p = paths(cfg);
  const spec = controlDirSpec(cfg);
  const created: string[] = [];
  try {
    if (!statSync(cfg.controlDir).isDirectory()) throw new Error("not a directory");
  } catch (err) {
    throw new RefusedError(`control directory ${cfg.controlDir} is not usable (${errorMessage(err)}): mount the control volume first`);
  }
  const volume = identityOf(cfg);
  if (spec.mountpoint && !volume.mountpoint && !opts.force)
    throw new RefusedError(
      `control directory ${spec.dir} is not a mount point: mount the control volume on ${spec.dir} first (or, if it is meant to be a plain directory, set controlDirIsMountpoint: false in ${cfg.file}, or run 'rmtabsync init --force'); nothing was changed`,
    );
  const existing = readMarker(p.marker);
  if (existing && existing.cluster !== cfg.cluster)
    throw new RefusedError(`control volume ${cfg.controlDir} belongs to cluster "${existing.cluster}", not "${cfg.cluster}"`);
  const foreign = existing && foreignGroup(cfg, existing);
  if (foreign) throw new RefusedError(`${foreign}: check the groups' controlDir in ${cfg.file}; nothing was changed`);
  const rec = readVolumeRecord(cfg.stateDir, spec.dir);
  if (rec && !existing && !opts.force)
    throw new RefusedError(
      `control volume marker ${p.marker} is missing, but this node was initialised on marker ${rec.markerId} there (${volumeRecordFile(cfg.stateDir)}): is the control volume mounted on ${spec.dir}? Run 'rmtabsync init --force' if it was re-created on purpose; nothing was changed`,
    );
  if (rec && existing && !opts.force && (rec.markerId !== existing.id || !sameFilesystem(rec, volume)))
    throw new RefusedError(
      `control volume ${spec.dir} (marker id ${existing.id ?? "(none)"}, ${describeVolume(volume)}) is not the one this node was initialised on (marker id ${rec.markerId}, ${describeVolume(rec)}, ${volumeRecordFile(cfg.stateDir)}): mount the right volume, or run 'rmtabsync init --force' if it was re-created or moved on purpose; nothing was changed`,
    );
  if (!existing || existing.id === undefined) {
    const marker = { cluster: cfg.cluster, format: 1, created: existing?.created || now.toISOString(), id: randomUUID(), ...(cfg.group === undefined ? {} : { group: cfg.group }) };
    // 0644: it names the cluster only
    writeFileAtomic(p.marker, `${JSON.stringify(marker)}\n`, { mode: 0o644 });
    created.push(existing ? `${p.marker} (id)` : p.marker);
  }
  // another node's init may have written it at the same time: record what is there now
  const marker = readMarker(p.marker);
  if (!marker?.id) throw new RefusedError(`control volume marker ${p.marker} has no id after writing it`);
  try {
    statSync(p.journals);
  } catch {
    mkdirSync(p.journals, { mode: 0o755 });
    created.push(p.journals);
  }
  if (!rec || rec.markerId !== marker.id || rec.dev !== volume.dev || rec.uuid !== volume.uuid || rec.mountpoint !== volume.mountpoint) {
    writeVolumeRecord(cfg.stateDir, spec.dir, { markerId: marker.id, ...volume, recorded: now.toISOString() });
    created.push(volumeRecordFile(cfg.stateDir));
  }
  return { created, marker, volume };
}

export type ProblemKind = "unreadable" | "missing" | "invalid" | "future" | "rolled-back" | "forked" | "gone";

export interface JournalProblem {
  readonly file: string;
  readonly node: string;
  readonly problem: string;
  /**
   * unreadable/missing: a journal cannot be read; invalid: some of its events break the rules or the
   * hash chain; future: some are stamped beyond the accepted clock skew; rolled-back/forked/gone:
   * split-brain or restored backup (critical).
   */
  readonly kind?: ProblemKind;
}

export interface JournalSet {
  readonly journals: ReadJournal[];
  readonly problems: JournalProblem[];
  /** journalStamp of each file, taken before it was read. */
  readonly stamps: ReadonlyMap<string, string>;
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

const KIND_WORDS: Record<ProblemKind, string> = {
  unreadable: "unreadable",
  missing: "missing",
  invalid: "holds events that cannot be used",
  future: "holds events stamped in the future",
  "rolled-back": "rolled back",
  forked: "forked",
  gone: "gone",
};

/** Why reconcile runs add-only, one clause per journal problem: "FILE (KIND): PROBLEM; ...". */
export function describeProblems(problems: readonly JournalProblem[]): string {
  return problems.map((p) => `${p.file} (${KIND_WORDS[p.kind ?? "unreadable"]}): ${p.problem}`).join("; ");
}

/** The events a journal holds but a reader did not use, as one problem (or none). */
export function rejectedProblem(j: ReadJournal): JournalProblem | undefined {
  if (j.rejected.length === 0) return undefined;
  const invalid = j.rejected.filter((r) => r.kind === "invalid");
  const first = (invalid[0] ?? j.rejected[0])!;
  const n = j.rejected.length;
  return {
    file: j.file,
    node: j.meta.node,
    problem: `${n} event${n === 1 ? "" : "s"} not used; event ${first.seq} ${first.problem}`,
    kind: invalid.length > 0 ? "invalid" : "future",
  };
}

export interface ReadJournalsOptions {
  readonly skipFile?: string;
  readonly events?: boolean;
  readonly interest?: ReadonlyMap<string, readonly number[]>;
  readonly futureAfterMs?: number;
  /** Test hook: runs after each journal was read. */
  readonly afterRead?: (file: string) => void;
  /** With events: where each usable event goes instead of into `events` (see ReadOptions.sink). */
  readonly sink?: (e: import("../core/events.js").JournalEvent) => void;
  /** With events: the high-water mark to read each journal from (see ReadOptions.from). */
  readonly from?: (file: string) => { seq: number; hash: string } | undefined;
  /** A cold fold: a journal's latest-event table may stand in for its history (see ReadOptions.latestTable). */
  readonly latestTable?: boolean;
  /** With latestTable: a fold that may take a table's rows itself (see ReadOptions.importer). */
  readonly importer?: import("./journal.js").LatestImporter;
}

/**
 * Reads every journal in the volume except `skip` (the caller's own, read
 * read-write elsewhere). Configured nodes without a journal are problems (on
 * the shared volume; a group's has journals of the nodes that mounted it), and
 * so are events a journal holds that cannot be used (see rowProblem).
 */
export function readJournals(cfg: Pick<Config, "controlDir" | "nodes"> & { cluster?: string; group?: string }, opts: ReadJournalsOptions = {}): JournalSet {
  const dir = paths(cfg as Config).journals;
  const journals: ReadJournal[] = [];
  const problems: JournalProblem[] = [];
  const present = new Set<string>();
  const stamps = new Map<string, string>();
  for (const file of listJournalFiles(dir)) {
    if (!isBranchFile(file)) present.add(nodeOfFile(file));
    if (file === opts.skipFile) continue;
    try {
      // the stamp first: a commit after it makes the next run read again
      stamps.set(file, journalStamp(file));
      const j = readJournal(file, cfg.cluster, { events: opts.events, interest: opts.interest, futureAfterMs: opts.futureAfterMs, from: opts.from?.(file), sink: opts.sink, latestTable: opts.latestTable, importer: opts.importer });
      journals.push(j);
      const bad = rejectedProblem(j);
      if (bad) problems.push(bad);
      opts.afterRead?.(file);
    } catch (err) {
      problems.push({ file, node: nodeOfFile(file), problem: err instanceof JournalError ? err.problem : errorMessage(err), kind: "unreadable" });
    }
  }
  // a group's volume holds the journals of the nodes that ever mounted it: a node that never did served none of its exports
  for (const node of cfg.group === undefined ? cfg.nodes : []) {
    if (!present.has(node))
      problems.push({ file: journalFile(dir, node), node, problem: `no journal for configured node ${node} (run 'rmtabsync init' there)`, kind: "missing" });
  }
  return { journals, problems, stamps };
}
