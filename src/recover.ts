// recover: merges another copy of the control volume (a split-brain victim's
// data, a backup) into ours. Events missing from our journals are appended
// with their original timestamps; a forked history is kept as a branch
// journal with its own identity, so nothing is overwritten. Idempotent.
import { createHash, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { journalFile, paths, type Config } from "./config.js";
import { originKey, short, type ChainRow } from "./core/integrity.js";
import { errorMessage, JournalError, RefusedError } from "./errors.js";
import { listJournalFiles, readMarker, requireMarker } from "./io/control.js";
import { cleanTempJournals } from "./io/temp-journals.js";
import { isBranchFile, JournalWriter, nodeOfFile, readChain, type ChainData } from "./io/journal.js";

export interface RecoverAction {
  readonly action: "append" | "branch" | "compact" | "copy" | "none" | "unreadable";
  /** Journal of the other copy. */
  readonly from: string;
  /** Our journal written (or that would be). */
  readonly into: string | null;
  readonly node: string;
  readonly events: number;
  readonly detail: string;
}

interface Ours {
  file: string;
  data: ChainData;
  hashes: Map<number, string>;
  lastSeq: number;
}

function index(file: string, data: ChainData): Ours {
  const hashes = new Map<number, string>();
  let lastSeq = 0;
  for (const r of [...data.pruned, ...data.rows]) {
    hashes.set(r.seq, r.hash);
    if (r.seq > lastSeq) lastSeq = r.seq;
  }
  return { file, data, hashes, lastSeq };
}

/** An event's identity wherever it lives: origin journal, origin seq, origin hash. */
function identity(r: { origin_journal: string; origin_seq: number; origin_hash: string }): string {
  return `${originKey(r.origin_journal, r.origin_seq)}/${r.origin_hash}`;
}

/** Every event identity present in our volume. */
function knownOrigins(ours: readonly Ours[]): Set<string> {
  const s = new Set<string>();
  for (const o of ours) {
    for (const r of [...o.data.rows, ...o.data.pruned]) s.add(identity(r));
  }
  return s;
}

export function recover(cfg: Config, fromDir: string, opts: { dryRun: boolean; nowMs: number; warn?: (msg: string) => void }): RecoverAction[] {
  requireMarker(cfg);
  if (!opts.dryRun) cleanTempJournals(paths(cfg).journals, opts.nowMs, opts.warn ?? (() => {}));
  const theirMarker = readMarker(join(fromDir, "rmtabsync.cluster"));
  if (theirMarker && theirMarker.cluster !== cfg.cluster)
    throw new RefusedError(`${fromDir} belongs to cluster "${theirMarker.cluster}", not "${cfg.cluster}"; nothing merged`);
  const ourDir = paths(cfg).journals;
  const theirDir = join(fromDir, "journals");
  if (!existsSync(theirDir)) throw new RefusedError(`${theirDir} does not exist: is ${fromDir} a copy of the control volume?`);

  const ours: Ours[] = [];
  for (const file of listJournalFiles(ourDir)) {
    try {
      ours.push(index(file, readChain(file, cfg.cluster)));
    } catch (err) {
      throw new RefusedError(`our journal ${file} is unreadable (${err instanceof JournalError ? err.problem : errorMessage(err)}): fix or move it aside first; nothing merged`);
    }
  }
  const known = knownOrigins(ours);
  const actions: RecoverAction[] = [];
  // events the other copy compacted away, by identity: the journal that says so
  const theirPruned = new Map<string, string>();

  for (const from of listJournalFiles(theirDir)) {
    let theirs: ChainData;
    try {
      theirs = readChain(from, cfg.cluster);
    } catch (err) {
      actions.push({ action: "unreadable", from, into: null, node: nodeOfFile(from), events: 0, detail: err instanceof JournalError ? err.problem : errorMessage(err) });
      continue;
    }
    for (const p of theirs.pruned) if (!theirPruned.has(identity(p))) theirPruned.set(identity(p), from);
    const node = theirs.meta.node;
    const id = theirs.meta.journalId;
    const missing = theirs.rows.filter((r) => !known.has(identity(r)));
    const o = ours.find((x) => x.data.meta.journalId === id);
    if (missing.length === 0) {
      actions.push({ action: "none", from, into: o?.file ?? null, node, events: 0, detail: "nothing missing" });
      continue;
    }
    if (o) {
      // first event (or compacted event) of theirs that our copy of the same journal lacks or has differently
      const theirAll = [...theirs.rows.map((r) => ({ seq: r.seq, hash: r.hash, row: r as ChainRow | undefined })), ...theirs.pruned.map((p) => ({ seq: p.seq, hash: p.hash, row: undefined }))].sort((a, b) => a.seq - b.seq);
      const firstDiff = theirAll.find((x) => o.hashes.get(x.seq) !== x.hash);
      const continues =
        firstDiff !== undefined && firstDiff.seq === o.lastSeq + 1 && (firstDiff.row === undefined || firstDiff.row.prev_hash === (o.hashes.get(o.lastSeq) ?? id));
      if (continues) {
        const rows = theirs.rows.filter((r) => r.seq >= firstDiff.seq);
        const pruned = theirs.pruned.filter((p) => p.seq >= firstDiff.seq);
        const lastSeq = theirAll[theirAll.length - 1]!.seq;
        actions.push({ action: "append", from, into: o.file, node, events: rows.length, detail: `events ${firstDiff.seq}..${lastSeq} of journal ${short(id)} appended` });
        if (!opts.dryRun) write(JournalWriter.open(o.file, cfg.cluster), (w) => w.appendVerbatim(rows, pruned));
        for (const r of rows) known.add(identity(r));
        continue;
      }
    }
    const hasPrimary = existsSync(journalFile(ourDir, node));
    if (!o && !hasPrimary && !isBranchFile(from)) {
      const into = journalFile(ourDir, node);
      actions.push({ action: "copy", from, into, node, events: theirs.rows.length, detail: `journal ${short(id)} of node ${node} was missing: copied whole` });
      if (!opts.dryRun) {
        write(JournalWriter.create(into, { cluster: cfg.cluster, node, journalId: id, created: theirs.meta.created }), (w) =>
          w.appendVerbatim(theirs.rows, theirs.pruned),
        );
      }
      for (const r of theirs.rows) known.add(identity(r));
      continue;
    }
    // forked history (or another identity for the same node): keep it beside ours
    const existing = ours.find((x) => isBranchFile(x.file) && x.data.branchOf === id);
    const forkAt = missing[0]!.seq;
    // named after the journal it branches off, so a dry run names the file the real run writes
    const into = existing?.file ?? join(ourDir, `${node}~${createHash("sha256").update(id).digest("hex").slice(0, 8)}.sqlite`);
    actions.push({
      action: "branch",
      from,
      into,
      node,
      events: missing.length,
      detail: o
        ? `journal ${short(id)} forked at event ${forkAt}: the other copy's ${missing.length} events kept in branch ${into}`
        : `journal ${short(id)} of node ${node} differs from ours: its ${missing.length} events kept in branch ${into}`,
    });
    if (!opts.dryRun) {
      const w = existing
        ? JournalWriter.open(into, cfg.cluster)
        : JournalWriter.create(into, {
            cluster: cfg.cluster,
            node,
            journalId: randomUUID(),
            created: new Date(opts.nowMs).toISOString(),
            branchOf: id,
            branchAt: forkAt,
          });
      write(w, (x) => x.appendRechained(missing));
      if (!existing) ours.push(index(into, readChain(into, cfg.cluster)));
    }
    for (const r of missing) known.add(identity(r));
  }
  // A mount the other copy compacted away was superseded there (by an umount
  // perhaps compacted away too, once no older mount survived on that copy):
  // kept here, it would come back. Only mounts: an umount we keep is never wrong.
  for (const o of ours) {
    const drop = o.data.rows.filter((r) => r.count > 0 && theirPruned.has(identity(r)));
    if (drop.length === 0) continue;
    const from = theirPruned.get(identity(drop[0]!))!;
    actions.push({
      action: "compact",
      from,
      into: o.file,
      node: o.data.meta.node,
      events: drop.length,
      detail: `events ${drop.map((r) => r.seq).join(", ")} of journal ${short(o.data.meta.journalId)} compacted away as on the other copy (superseded there)`,
    });
    if (!opts.dryRun) write(JournalWriter.open(o.file, cfg.cluster), (w) => w.pruneVerbatim(drop.map((r) => r.seq)));
  }
  return actions;
}

function write(w: JournalWriter, fn: (w: JournalWriter) => void): void {
  try {
    fn(w);
    w.finish();
  } finally {
    w.close();
  }
}

export type { ChainRow };
