// Reads the facts `rmtabsync status` judges (src/core/status.ts). Writes
// nothing: journals are opened read-only, the reconcile is a read-only dry
// run under a shared lock, and the lock file is never created.
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { journalFile, paths } from "./config.js";
import type { JournalEvent } from "./core/events.js";
import { ExportIndex } from "./core/exports.js";
import { LineList } from "./core/line-list.js";
import type { LineChange } from "./core/plan.js";
import type { JournalFact, MarkerFact, RmtabCheck, StatusFacts } from "./core/status.js";
import { errorMessage, JournalError } from "./errors.js";
import { listJournalFiles, readMarker, type JournalProblem } from "./io/control.js";
import { journalWriteProblem, nodeOfFile, OwnJournal, readJournalSummary } from "./io/journal.js";
import { spoolSummary } from "./io/spool.js";
import { stateDirProblem } from "./io/state-dir.js";
import { quietSinceLastReconcile, readHosted, reconcile, type SyncContext } from "./sync.js";

function lastEventOf(e: JournalEvent | undefined): JournalFact["lastEvent"] {
  return e && { wall: e.wall, op: e.op, client: e.client, path: e.path, count: e.count };
}

function problemOf(err: unknown): string {
  return err instanceof JournalError ? err.problem : errorMessage(err);
}

function readMarkerFact(ctx: SyncContext): MarkerFact {
  try {
    const m = readMarker(paths(ctx.cfg).marker);
    if (!m) return { kind: "missing" };
    return m.cluster === ctx.cfg.cluster ? { kind: "ok", cluster: m.cluster } : { kind: "foreign", cluster: m.cluster };
  } catch (err) {
    return { kind: "unreadable", problem: errorMessage(err) };
  }
}

function isMountPoint(dir: string): boolean | undefined {
  try {
    return statSync(dir).dev !== statSync(dirname(dir)).dev;
  } catch {
    return undefined;
  }
}

function countQuarantined(file: string): number {
  let text: string;
  try {
    text = readFileSync(file, "latin1");
  } catch {
    return 0;
  }
  return text.split("\n").filter((l) => /^# \S+ removed from /.test(l)).length;
}

interface OwnFacts {
  journal: JournalFact;
  lastRecord?: number;
  lastReconcile?: number;
  pending: boolean;
}

function needsRollback(err: unknown): boolean {
  const cause = err instanceof JournalError ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return code === "SQLITE_READONLY_ROLLBACK" || code === "SQLITE_READONLY_RECOVERY";
}

function readOwnAt(ctx: SyncContext, file: string, readOnly: boolean): Omit<OwnFacts, "journal"> & { events: number; lastEvent: JournalFact["lastEvent"] } {
  const own = OwnJournal.open(file, { cluster: ctx.cfg.cluster, node: ctx.node, create: false, readOnly, now: new Date(ctx.now()) });
  try {
    const summary = own.summary(ctx.now() + ctx.cfg.maxClockSkewMs);
    const times = own.lastTimes();
    return {
      events: summary.events,
      lastEvent: lastEventOf(summary.last),
      lastRecord: times.record,
      lastReconcile: times.reconcile,
      pending: own.pendingReconcile(),
    };
  } finally {
    own.close();
  }
}

function readOwn(ctx: SyncContext, file: string, present: boolean): OwnFacts {
  const base = { node: ctx.node, file, own: true, present };
  if (!present) return { journal: base, pending: false };
  try {
    const { events, lastEvent, ...rest } = readOwnAt(ctx, file, true);
    const unwritable = journalWriteProblem(file);
    return { journal: { ...base, events, lastEvent, ...(unwritable === undefined ? {} : { unwritable }) }, ...rest };
  } catch (err) {
    if (!needsRollback(err)) return { journal: { ...base, problem: problemOf(err) }, pending: false };
  }
  // A crash left a hot rollback journal, which a read-only open cannot roll
  // back: read a private copy (rolled back there), leave the file alone.
  const dir = mkdtempSync(join(tmpdir(), "rmtabsync-status-"));
  try {
    const copy = join(dir, basename(file));
    copyFileSync(file, copy);
    if (existsSync(`${file}-journal`)) copyFileSync(`${file}-journal`, `${copy}-journal`);
    const { events, lastEvent, ...rest } = readOwnAt(ctx, copy, false);
    return { journal: { ...base, recovery: true, events, lastEvent }, ...rest };
  } catch (err) {
    return { journal: { ...base, problem: problemOf(err) }, pending: false };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type Listed = { file: string; kind: string; problem: string }[];

/** Journals that diverged (a split-brain, a restored backup) and journals holding events the fold cannot use. */
function sortProblems(problems: readonly JournalProblem[], diverged: Listed, unusable: Listed): void {
  for (const pr of problems)
    if (pr.kind === "rolled-back" || pr.kind === "forked" || pr.kind === "gone") diverged.push({ file: pr.file, kind: pr.kind, problem: pr.problem });
    else if (pr.kind === "invalid" || pr.kind === "future") unusable.push({ file: pr.file, kind: pr.kind, problem: pr.problem });
}

function onlyExport(changes: readonly LineChange[] | LineList<LineChange>, name: string | undefined): number {
  if (name === undefined) return changes.length;
  if (changes instanceof LineList) return changes.byExport().get(name) ?? 0;
  return changes.filter((c) => c.export === name).length;
}

/** Everything status judges, read without writing anything. */
export async function gatherStatus(ctx: SyncContext, opts: { export?: string; staleAfterMs: number }): Promise<StatusFacts> {
  const p = paths(ctx.cfg);
  const marker = readMarkerFact(ctx);
  const journals: JournalFact[] = [];
  let own: OwnFacts | undefined;
  let rmtab: StatusFacts["rmtab"];
  const diverged: { file: string; kind: string; problem: string }[] = [];
  const unusable: { file: string; kind: string; problem: string }[] = [];
  const stateDirBad = stateDirProblem(ctx.cfg.stateDir);
  if (marker.kind === "ok") {
    let files: string[] = [];
    let listProblem: string | undefined;
    try {
      files = listJournalFiles(p.journals);
    } catch (err) {
      listProblem = errorMessage(err);
    }
    const byNode = new Map(files.map((f) => [nodeOfFile(f), f]));
    const ownFile = journalFile(p.journals, ctx.node);
    own = readOwn(ctx, ownFile, byNode.has(ctx.node));
    journals.push(own.journal);
    // a group's volume holds the journals of the nodes that ever mounted it (see readJournals)
    const expected = ctx.cfg.group === undefined ? ctx.cfg.nodes : [];
    const peers = [...new Set([...expected, ...byNode.keys()])].filter((n) => n !== ctx.node).sort();
    for (const node of peers) {
      const file = byNode.get(node) ?? journalFile(p.journals, node);
      if (!byNode.has(node)) {
        journals.push({ node, file, own: false, present: false, ...(listProblem ? { problem: listProblem } : {}) });
        continue;
      }
      try {
        const j = readJournalSummary(file, ctx.cfg.cluster, ctx.now() + ctx.cfg.maxClockSkewMs);
        journals.push({ node, file, own: false, present: true, events: j.events, lastEvent: lastEventOf(j.last) });
      } catch (err) {
        journals.push({ node, file, own: false, present: true, problem: problemOf(err) });
      }
    }
    const usable = own.journal.present && own.journal.problem === undefined && stateDirBad === undefined;
    let quiet: Awaited<ReturnType<typeof quietSinceLastReconcile>>;
    try {
      if (usable) quiet = await quietSinceLastReconcile(ctx);
    } catch (err) {
      rmtab = { error: errorMessage(err) };
    }
    if (quiet) {
      // nothing moved since the last reconcile: it would change nothing, and its problems stand
      rmtab = { ok: { add: 0, remove: 0, change: 0, heldBack: 0, malformed: 0, addOnly: quiet.problems.length > 0, entries: quiet.entries } };
      sortProblems(quiet.problems, diverged, unusable);
    } else if (usable && rmtab === undefined) {
      try {
        const r = await reconcile({ ...ctx, warn: () => {} }, { readOnly: true });
        const check: RmtabCheck = {
          add: onlyExport(r.added, opts.export),
          remove: onlyExport(r.removed, opts.export),
          change: onlyExport(r.changed, opts.export),
          heldBack: onlyExport(r.heldBack, opts.export),
          malformed: r.malformed.length,
          addOnly: r.addOnly,
          // what rmtab holds now: what reconcile would write, less what it would add, plus what it would remove
          entries: r.entries - r.added.length + r.removed.length,
        };
        rmtab = { ok: check };
        sortProblems(r.problems, diverged, unusable);
      } catch (err) {
        rmtab = { error: errorMessage(err) };
      }
    }
  }
  const hosted = readHosted(ctx.cfg, new ExportIndex(ctx.cfg.exports));
  return {
    node: ctx.node,
    cluster: ctx.cfg.cluster,
    controlDir: ctx.cfg.controlDir,
    controlMounted: isMountPoint(ctx.cfg.controlDir),
    controlMustBeMountpoint: ctx.cfg.controlDirIsMountpoint,
    marker,
    journals,
    lastRecord: own?.lastRecord,
    lastReconcile: own?.lastReconcile,
    pending: own?.pending ?? false,
    rmtab,
    quarantined: countQuarantined(p.quarantine),
    export: opts.export,
    exportHosted: opts.export === undefined ? undefined : hosted.hosted.has(opts.export),
    etabProblems: hosted.problems,
    diverged,
    unusable,
    ...(stateDirBad === undefined ? {} : { stateDirProblem: `"${ctx.cfg.stateDir}" ${stateDirBad}` }),
    now: ctx.now(),
    staleAfterMs: opts.staleAfterMs,
    spool: [...new Set([ctx.cfg.stateDir, ...(ctx.spool ? [ctx.spool.dir] : [])])].map(spoolSummary),
  };
}
