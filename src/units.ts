// record and reconcile over every control directory: the shared one (if
// configured) and each export group's. A group's control directory lives on
// the group's own replicated volume, so it is mounted only on the node that
// serves the group: elsewhere the group is simply not here, and its lines
// leave this node's rmtab. A refusal (exit 3) stops that group only.
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { controlUnits, journalFile, paths, unitStateDir, type Config, type ControlUnit } from "./config.js";
import { ExportIndex } from "./core/exports.js";
import type { LineChange } from "./core/plan.js";
import { planRelease } from "./core/release.js";
import { EXIT, errorMessage, ExitError, RefusedError } from "./errors.js";
import { readMarker, requireMarker } from "./io/control.js";
import { readSnapshot, writeFileAtomic } from "./io/files.js";
import { OwnJournal } from "./io/journal.js";
import { readLocalBaseline, writeLocalBaseline } from "./io/local-baseline.js";
import { withRmtabLock } from "./io/lock.js";
import { requireStateDir } from "./io/state-dir.js";
import { SHARED_SPOOL_DIR, type SpoolRouting } from "./io/spool.js";
import { readVolumeRecord, writeVolumeRecord } from "./io/volume.js";
import { readHosted, reconcile, record, type RecordReport, type ReconcileReport, type SyncContext } from "./sync.js";

/** What became of one control directory in a run. */
export type UnitOutcome<R> =
  | { readonly unit: ControlUnit; readonly state: "done"; readonly report: R }
  /** A group whose control directory is not mounted here: its exports are served elsewhere (or nowhere). */
  | { readonly unit: ControlUnit; readonly state: "absent"; readonly reason: string }
  | { readonly unit: ControlUnit; readonly state: "refused" | "failed"; readonly reason: string; readonly error: ExitError | Error };

export interface UnitsReport<R> {
  readonly node: string;
  readonly dryRun: boolean;
  readonly units: UnitOutcome<R>[];
  /** Lines removed (or, dry run, to remove) because their group is served elsewhere. */
  readonly released: LineChange[];
  readonly rmtab: string;
}

/** The exports of `unit` in `hosting`. */
function hostingOf(unit: ControlUnit, hosting: readonly string[]): string[] {
  return hosting.filter((h) => unit.cfg.exports.some((e) => e.name === h));
}

/**
 * A group's control directory is here when its marker is: a missing
 * directory or marker is the normal state of a node that does not serve the
 * group. The shared one is always expected (requireMarker refuses as before).
 */
export function absentReason(unit: ControlUnit): string | undefined {
  if (unit.group === undefined) return undefined;
  const dir = unit.cfg.controlDir;
  if (!existsSync(dir)) return `control directory ${dir} does not exist here (the group's volume is not mounted)`;
  if (readMarker(paths(unit.cfg).marker) === undefined) return `control directory ${dir} holds no marker (the group's volume is not mounted)`;
  return undefined;
}

/**
 * This node's first use of a group's volume (it just took the group over):
 * checks the marker (this cluster, this group, a mount point when required)
 * and creates this node's journal there and the volume record. `init` on
 * the node that first mounts the group creates the marker; the other nodes
 * join at their first takeover, since they cannot mount the volume before.
 */
function joinGroup(ctx: SyncContext, cfg: Config): void {
  const own = journalFile(paths(cfg).journals, ctx.node);
  mkdirSync(unitStateDir(cfg), { recursive: true, mode: 0o700 });
  if (existsSync(own)) return;
  const control = requireMarker(cfg);
  if (!existsSync(paths(cfg).journals)) throw new RefusedError(`control directory ${cfg.controlDir} has a marker but no journals directory: run 'rmtabsync init' there; nothing was changed`);
  const now = new Date(ctx.now());
  if (!readVolumeRecord(cfg.stateDir, cfg.controlDir) && control.marker.id)
    writeVolumeRecord(cfg.stateDir, cfg.controlDir, { markerId: control.marker.id, ...control.volume, recorded: now.toISOString() });
  OwnJournal.open(own, { cluster: cfg.cluster, node: ctx.node, create: true, now }).close();
  ctx.warn(`group ${cfg.group}: first use of ${cfg.controlDir} on this node, created ${own}`);
}

/**
 * Where each control directory's share of the node's callout spool waits
 * (src/io/spool.ts): a group's in its state directory on this node, the
 * shared one's in <stateDir>/rmtabsync.spool.shared. An event goes to its
 * export's control directory; an unmount-all without a path to every one.
 * Keyed by group, "" for the shared control directory.
 */
export function spoolRouting(cfg: Config): Map<string, SpoolRouting> {
  const units = controlUnits(cfg);
  const dirOf = (u: ControlUnit) => (u.group !== undefined ? unitStateDir(u.cfg) : join(cfg.stateDir, SHARED_SPOOL_DIR));
  const dirs = units.map(dirOf);
  const byExport = new Map(units.flatMap((u) => u.cfg.exports.map((e) => [e.name, dirOf(u)] as const)));
  const index = new ExportIndex(cfg.exports);
  const dirsOf: SpoolRouting["dirsOf"] = (e) => {
    if (e.op === "unmount-all" && e.path === "") return dirs;
    const exp = index.exportOf(e.path);
    const dir = exp && byExport.get(exp.name);
    return dir === undefined ? [] : [dir];
  };
  // keyed by group, "" for the shared one (a group may be named "shared")
  return new Map(units.map((u) => [u.group ?? "", { dir: dirOf(u), dirs, dirsOf }]));
}

/** Options of a run over every control directory. */
export interface UnitsOptions {
  readonly dryRun?: boolean;
  readonly hosting?: readonly string[];
}

async function eachUnit<R>(
  ctx: SyncContext,
  hosting: readonly string[],
  work: (uctx: SyncContext, hosting: string[]) => Promise<R>,
): Promise<UnitOutcome<R>[]> {
  const out: UnitOutcome<R>[] = [];
  const routing = ctx.cfg.groups.length > 0 ? spoolRouting(ctx.cfg) : undefined;
  for (const unit of controlUnits(ctx.cfg)) {
    const uh = hostingOf(unit, hosting);
    // each control directory folds its own share of the spool only
    const uctx: SyncContext = { ...ctx, cfg: unit.cfg, spool: routing?.get(unit.group ?? "") };
    try {
      const absent = absentReason(unit);
      if (absent !== undefined) {
        const served = new Set([...readHosted(unit.cfg, new ExportIndex(unit.cfg.exports)).hosted, ...uh]);
        if (served.size > 0)
          throw new RefusedError(
            `group ${unit.name}: ${absent}, but its export${served.size === 1 ? "" : "s"} ${[...served].sort().join(", ")} ${served.size === 1 ? "is" : "are"} served here: mount the group's control volume before rmtabsync starts (order: Filesystem, then rmtabsync); nothing was changed for this group`,
          );
        out.push({ unit, state: "absent", reason: absent });
        continue;
      }
      if (unit.group !== undefined) joinGroup(uctx, unit.cfg);
      out.push({ unit, state: "done", report: await work(uctx, uh) });
    } catch (err) {
      const refused = err instanceof ExitError && err.exitCode === EXIT.refused;
      const e = err instanceof Error ? err : new Error(String(err));
      const reason = unit.group !== undefined && !errorMessage(e).startsWith(`group ${unit.name}:`) ? `group ${unit.name}: ${errorMessage(e)}` : errorMessage(e);
      out.push({ unit, state: refused ? "refused" : "failed", reason, error: e });
    }
  }
  return out;
}

/**
 * Under mountd's lock: removes the lines of the groups not mounted here and
 * not served here, and tells each such group's local baseline copy that its
 * exports are not hosted here any more (so when the group comes back, what
 * its lines lost meanwhile is put back, never journaled as umounts).
 */
async function release(ctx: SyncContext, absent: readonly ControlUnit[], dryRun: boolean): Promise<LineChange[]> {
  if (absent.length === 0) return [];
  const names = new Set(absent.flatMap((u) => u.cfg.exports.map((e) => e.name)));
  const index = new ExportIndex(ctx.cfg.exports);
  const p = paths(ctx.cfg);
  return withRmtabLock(p.lock, { exclusive: !dryRun, timeoutMs: ctx.lockTimeoutMs }, () => {
    // served here after all (exportfs ran meanwhile): those lines stay
    for (const h of readHosted(ctx.cfg, index).hosted) names.delete(h);
    const snap = readSnapshot(p.rmtab);
    const plan = planRelease(snap.content, index, names);
    if (dryRun) return plan.removed;
    if (plan.removed.length > 0)
      writeFileAtomic(p.rmtab, plan.content, { followSymlink: true, mode: "keep", mtimeAfterMs: snap.mtimeMs, now: ctx.now });
    for (const u of absent) {
      const dir = unitStateDir(u.cfg);
      const local = existsSync(dir) ? readLocalBaseline(dir) : undefined;
      if (!local) continue;
      const hosted = local.hosted.filter((h) => !names.has(h.replace(/^\+/, "").replace(/@.*$/, "")));
      if (plan.removed.length === 0 && hosted.length === local.hosted.length) continue;
      writeLocalBaseline(dir, { ...local, gen: local.gen + 1, id: randomUUID(), hosted, content: plan.removed.length > 0 ? plan.content : snap.content }, local);
    }
    return plan.removed;
  });
}

/** The exit of a run over several control directories: refused (3) before failed (1). */
export function unitsError<R>(r: UnitsReport<R>): ExitError | undefined {
  const bad = r.units.filter((u) => u.state === "refused" || u.state === "failed");
  if (bad.length === 0) return undefined;
  const code = bad.some((u) => u.state === "refused") ? EXIT.refused : EXIT.failure;
  return new ExitError(bad.map((u) => (u.state === "done" || u.state === "absent" ? "" : u.reason)).join("\n"), code);
}

export async function reconcileUnits(ctx: SyncContext, opts: UnitsOptions = {}): Promise<UnitsReport<ReconcileReport>> {
  requireStateDir(ctx.cfg);
  const dryRun = !!opts.dryRun;
  const hosting = opts.hosting ?? [];
  const units = await eachUnit(ctx, hosting, (uctx, uh) => reconcile(uctx, { dryRun, hosting: uh }));
  const absent = units.filter((u) => u.state === "absent").map((u) => u.unit);
  const released = await release(ctx, absent, dryRun);
  return { node: ctx.node, dryRun, units, released, rmtab: paths(ctx.cfg).rmtab };
}

export async function recordUnits(ctx: SyncContext, opts: UnitsOptions = {}): Promise<UnitsReport<RecordReport>> {
  requireStateDir(ctx.cfg);
  const dryRun = !!opts.dryRun;
  const units = await eachUnit(ctx, opts.hosting ?? [], async (uctx, uh) => {
    const r = await record(uctx, { dryRun, hosting: uh });
    // the agent's stop (exportfs already stopped, the group's volume about to be unmounted):
    // the export leaves this node, and so do its lines (a reconcile of the group without it)
    if (!dryRun && uh.length > 0) await reconcile(uctx, {});
    return r;
  });
  return { node: ctx.node, dryRun, units, released: [], rmtab: paths(ctx.cfg).rmtab };
}
