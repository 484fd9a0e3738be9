// Administrator actions on the journals: forget and compact.
import { statSync } from "node:fs";
import { planCompaction } from "./core/compact.js";
import { foldEvents, mounted, previewEvents, type Change, type JournalEvent } from "./core/events.js";
import { ExportIndex } from "./core/exports.js";
import { HLC_ZERO, maxHlc } from "./core/hlc.js";
import { controlUnits, paths, unitStateDir, type Config } from "./config.js";
import { EXIT, errorMessage, ExitError, RefusedError, UsageError } from "./errors.js";
import { describeProblems, listJournalFiles, readJournals, requireMarker, type JournalProblem } from "./io/control.js";
import { readPublishedMarks } from "./io/journal.js";
import { readMarks } from "./io/marks.js";
import { integrityProblems, openOwn, type SyncContext } from "./sync.js";
import { absentReason, type UnitOutcome } from "./units.js";

/**
 * A maintenance command over control directories. A configuration without
 * groups, or narrowed to one group (--group), is one control directory:
 * its errors are the command's, and a group not mounted here is refused.
 * Otherwise every control directory mounted here: a group whose volume is
 * not mounted here is served elsewhere (left out, said in the report), and
 * a failure in one group does not stop the others (see unitsError).
 */
export function eachMountedUnit<R>(ctx: SyncContext, work: (uctx: SyncContext) => R): UnitOutcome<R>[] {
  const units = controlUnits(ctx.cfg);
  if (ctx.cfg.groups.length === 0 && ctx.cfg.group === undefined) return [{ unit: units[0]!, state: "done", report: work(ctx) }];
  if (ctx.cfg.group !== undefined) {
    const unit = units[0]!;
    const absent = absentReason(unit);
    if (absent !== undefined) throw new RefusedError(`group ${unit.name}: ${absent}: run this on the node that serves the group; nothing was changed`);
    return [{ unit, state: "done", report: work(ctx) }];
  }
  return units.map((unit): UnitOutcome<R> => {
    const absent = absentReason(unit);
    if (absent !== undefined) return { unit, state: "absent", reason: absent };
    try {
      return { unit, state: "done", report: work({ ...ctx, cfg: unit.cfg }) };
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const refused = err instanceof ExitError && err.exitCode === EXIT.refused;
      return { unit, state: refused ? "refused" : "failed", reason: unit.group !== undefined ? `group ${unit.name}: ${errorMessage(e)}` : errorMessage(e), error: e };
    }
  });
}

/** The configuration narrowed to the control directory of export `name` (forget --export), when it has groups. */
export function unitOfExport(cfg: Config, name: string): Config {
  if (cfg.groups.length === 0 || cfg.group !== undefined) return cfg;
  return controlUnits(cfg).find((u) => u.cfg.exports.some((e) => e.name === name))?.cfg ?? cfg;
}

export interface ForgetReport {
  readonly forgotten: JournalEvent[];
  readonly problems: JournalProblem[];
}

/** The error of a forget that found nothing to forget anywhere it looked. */
export function nothingToForget(sel: { client: string; export?: string; path?: string }): UsageError {
  const what = sel.export ? ` in export ${sel.export}` : sel.path ? ` at ${sel.path}` : "";
  return new UsageError(`no mount of client ${sel.client}${what} in the cluster-wide table: nothing to forget (see 'rmtabsync show --client ${sel.client}')`);
}

/** Records forget events (count 0) for a client's entries cluster-wide, in this control directory; none found: an empty report. */
export function forget(ctx: SyncContext, sel: { client: string; export?: string; path?: string; dryRun?: boolean }): ForgetReport {
  const index = new ExportIndex(ctx.cfg.exports);
  if (sel.export !== undefined && !index.named(sel.export))
    throw new UsageError(`--export: expected one of ${ctx.cfg.exports.map((e) => e.name).join(", ")}, found "${sel.export}"`);
  requireMarker(ctx.cfg);
  const own = openOwn(ctx);
  try {
    const set = readJournals(ctx.cfg, { skipFile: own.file });
    const mine = own.read();
    let seen = maxHlc(HLC_ZERO, mine.maxHlc);
    const fold = foldEvents(mine.events);
    for (const j of set.journals) {
      seen = maxHlc(seen, j.maxHlc);
      foldEvents(j.events, {}, fold);
    }
    const changes: Change[] = [];
    for (const e of mounted(fold)) {
      if (e.client !== sel.client) continue;
      if (sel.export !== undefined && index.exportOf(e.path)?.name !== sel.export) continue;
      if (sel.path !== undefined && e.path !== sel.path) continue;
      changes.push({ op: "forget", client: e.client, path: e.path, count: 0 });
    }
    if (changes.length === 0) return { forgotten: [], problems: set.problems };
    const forgotten = sel.dryRun
      ? previewEvents(changes, ctx.node, maxHlc(seen, own.seenHlc()), ctx.now())
      : own.appendEvents(changes, seen, ctx.now());
    return { forgotten, problems: set.problems };
  } finally {
    own.close();
  }
}

export interface CompactReport {
  readonly file: string;
  readonly before: { bytes: number; events: number };
  readonly after: { bytes: number; events: number };
  readonly dropped: number;
  readonly cutoff: string;
}

/** Drops superseded events older than `keepMs` from this node's journal. */
export function compact(ctx: SyncContext, keepMs: number, opts: { dryRun?: boolean } = {}): CompactReport {
  requireMarker(ctx.cfg);
  const own = openOwn(ctx);
  try {
    // what this node and the peers saw of every journal, read before the journals (as reconcile does)
    const marks = readMarks(unitStateDir(ctx.cfg));
    const published = new Map(listJournalFiles(paths(ctx.cfg).journals).map((f) => [f, readPublishedMarks(f)] as const));
    const set = readJournals(ctx.cfg, { skipFile: own.file });
    if (set.problems.length > 0)
      throw new RefusedError(
        `not compacting while a journal is unreadable (${set.problems.map((p) => `${p.file}: ${p.problem}`).join("; ")}): an umount could lose the mount it supersedes`,
      );
    const mine = own.read();
    // A journal rolled back or forked: the other copy of the control volume (a split-brain's
    // victim) may hold a mount that no journal here holds. An umount of it retired now would
    // let that mount win again once recover merges the other copy.
    const diverged = integrityProblems(ctx, [mine, ...set.journals], marks, published, set.problems).problems;
    if (diverged.length > 0)
      throw new RefusedError(
        `not compacting while a journal diverged (${describeProblems(diverged)}): an umount could lose to a mount that only the other copy holds; merge it with 'rmtabsync recover --from <other copy>' first`,
      );
    const cutoff = ctx.now() - keepMs;
    const drop = planCompaction({ own: mine.events, others: set.journals.flatMap((j) => j.events), cutoff, tipSeq: own.tip().seq });
    const bytesBefore = statSync(own.file).size;
    if (!opts.dryRun && drop.length > 0) own.prune(drop, cutoff);
    return {
      file: own.file,
      before: { bytes: bytesBefore, events: mine.events.length },
      after: { bytes: statSync(own.file).size, events: mine.events.length - drop.length },
      dropped: drop.length,
      cutoff: new Date(cutoff).toISOString(),
    };
  } finally {
    own.close();
  }
}
