// record and reconcile: read at the edges, decide in the pure planners,
// write under mountd's lock.
import { journalFile, paths, type Config } from "./config.js";
import { foldEvents, type Change, type Fold, type JournalEvent } from "./core/events.js";
import { ExportIndex } from "./core/exports.js";
import { parseEtab } from "./core/etab.js";
import { HLC_ZERO, maxHlc, tick, type Hlc } from "./core/hlc.js";
import { planReconcile, planRecord, toCountMap, type Ignored, type LineChange } from "./core/plan.js";
import { parseRmtab, serializeRmtab, type MalformedLine } from "./core/rmtab.js";
import { RefusedError } from "./errors.js";
import { readJournals, requireMarker, type JournalProblem } from "./io/control.js";
import { appendQuarantine, readSnapshot, readTextIfExists, writeFileAtomic } from "./io/files.js";
import { OwnJournal } from "./io/journal.js";
import { withRmtabLock } from "./io/lock.js";

export interface SyncContext {
  readonly cfg: Config;
  readonly node: string;
  readonly lockTimeoutMs: number;
  /** Wall clock in ms; the only clock the engine reads. */
  readonly now: () => number;
  readonly warn: (msg: string) => void;
  /** Test hook: runs after the new rmtab is durable and before the rename. */
  readonly beforeRename?: () => void;
}

export interface HostedInfo {
  readonly hosted: Set<string>;
  readonly problems: string[];
}

/** Exports this node exports now, per <stateDir>/etab. */
export function readHosted(cfg: Config, index: ExportIndex): HostedInfo {
  const file = paths(cfg).etab;
  const text = readTextIfExists(file);
  const hosted = new Set<string>();
  const problems: string[] = [];
  if (text === undefined) return { hosted, problems };
  const parsed = parseEtab(text);
  for (const p of parsed.problems) problems.push(`${file} line ${p.line}: ${p.problem}`);
  for (const l of parsed.lines) {
    const e = index.exportOf(l.path);
    if (e) hosted.add(e.name);
  }
  return { hosted, problems };
}

export interface RecordReport {
  readonly node: string;
  readonly dryRun: boolean;
  readonly first: boolean;
  readonly recorded: JournalEvent[];
  readonly ignored: Ignored[];
  readonly malformed: MalformedLine[];
  readonly hosted: string[];
  readonly problems: JournalProblem[];
}

export interface ReconcileReport extends RecordReport {
  readonly written: boolean;
  readonly addOnly: boolean;
  readonly added: LineChange[];
  readonly removed: LineChange[];
  readonly changed: LineChange[];
  readonly heldBack: LineChange[];
  readonly unwritable: { client: string; path: string; problem: string }[];
  readonly quarantined: MalformedLine[];
  readonly entries: number;
  readonly rmtab: string;
}

function openOwn(ctx: SyncContext, readOnly: boolean): OwnJournal {
  const p = paths(ctx.cfg);
  return OwnJournal.open(journalFile(p.journals, ctx.node), {
    cluster: ctx.cfg.cluster,
    node: ctx.node,
    create: false,
    readOnly,
    now: new Date(ctx.now()),
  });
}

function stampDry(changes: readonly Change[], node: string, seen: Hlc, nowMs: number): JournalEvent[] {
  let clock = seen;
  return changes.map((c, i) => {
    clock = tick(clock, nowMs);
    return { ...c, ...clock, node, journal: "(dry-run)", seq: i + 1, hash: "" };
  });
}

interface Gathered {
  own: OwnJournal;
  fold: Fold;
  seen: Hlc;
  problems: JournalProblem[];
}

function gather(ctx: SyncContext, withFold: boolean, readOnly = false): Gathered {
  requireMarker(ctx.cfg);
  const own = openOwn(ctx, readOnly);
  try {
    const set = readJournals(ctx.cfg, { skipFile: own.file });
    const mine = own.read();
    let seen: Hlc = maxHlc(mine.maxHlc, HLC_ZERO);
    const fold: Fold = new Map();
    for (const j of [mine, ...set.journals]) {
      seen = maxHlc(seen, j.maxHlc);
      if (withFold) foldEvents(j.events, {}, fold);
    }
    return { own, fold, seen, problems: set.problems };
  } catch (err) {
    own.close();
    throw err;
  }
}

/**
 * Journals what mountd changed in the local rmtab since the last
 * record/reconcile. `hosting` names exports to treat as exported here even
 * when etab no longer lists them: the Pacemaker agent's stop runs after
 * exportfs has already removed the export, and must still journal its last
 * changes.
 */
export async function record(ctx: SyncContext, opts: { dryRun?: boolean; hosting?: readonly string[] } = {}): Promise<RecordReport> {
  const index = new ExportIndex(ctx.cfg.exports);
  const g = gather(ctx, false);
  try {
    return await withRmtabLock(paths(ctx.cfg).lock, { exclusive: false, timeoutMs: ctx.lockTimeoutMs }, () =>
      recordLocked(ctx, g, index, !!opts.dryRun, opts.hosting ?? []).report,
    );
  } finally {
    g.own.close();
  }
}

function recordLocked(ctx: SyncContext, g: Gathered, index: ExportIndex, dryRun: boolean, hosting: readonly string[] = []) {
  const p = paths(ctx.cfg);
  const snap = readSnapshot(p.rmtab);
  const parsed = parseRmtab(snap.content);
  const { hosted, problems } = readHosted(ctx.cfg, index);
  for (const name of hosting) hosted.add(name);
  for (const msg of problems) ctx.warn(msg);
  const base = g.own.baseline();
  const baselines = base.committed === undefined ? [] : base.pending ? [base.committed, base.pending] : [base.committed];
  const plan = planRecord({ current: parsed.entries, baselines, hosted, index });
  const current = toCountMap(parsed.entries);
  const nowMs = ctx.now();
  const recorded = dryRun
    ? stampDry(plan.changes, ctx.node, maxHlc(g.seen, g.own.seenHlc()), nowMs)
    : g.own.commitRecord({ changes: plan.changes, seen: g.seen, nowMs, baselineBefore: base.committed, current, what: "record" });
  const report: RecordReport = {
    node: ctx.node,
    dryRun,
    first: base.committed === undefined,
    recorded,
    ignored: plan.ignored,
    malformed: parsed.malformed,
    hosted: [...hosted].sort(),
    problems: g.problems,
  };
  return { report, snap, parsed, hosted, current, recorded };
}

/**
 * Records, folds every journal and rewrites rmtab under mountd's lock.
 * `dryRun` writes nothing and takes the lock shared (like mountd's DUMP);
 * `readOnly` (status) also opens this node's journal read-only and never
 * creates the lock file (a missing one means no mountd holds it).
 */
export async function reconcile(ctx: SyncContext, opts: { dryRun?: boolean; readOnly?: boolean } = {}): Promise<ReconcileReport> {
  const index = new ExportIndex(ctx.cfg.exports);
  const readOnly = !!opts.readOnly;
  const dryRun = !!opts.dryRun || readOnly;
  const g = gather(ctx, true, readOnly);
  const p = paths(ctx.cfg);
  try {
    return await withRmtabLock(p.lock, { exclusive: !dryRun, timeoutMs: ctx.lockTimeoutMs, create: !readOnly }, () => {
      const r = recordLocked(ctx, g, index, dryRun);
      foldEvents(r.recorded, {}, g.fold);
      const managed = new Set([...r.hosted, ...index.eligibleFor(ctx.node)]);
      const addOnly = g.problems.length > 0;
      const plan = planReconcile({ current: r.parsed.entries, fold: g.fold, managed, index, addOnly });
      const content = serializeRmtab(plan.entries);
      const same = content === r.snap.content.toString("utf8") && r.parsed.malformed.length === 0 && (r.snap.exists || content === "");
      let written = false;
      if (!same && !dryRun) {
        if (r.snap.content.length > 0 && plan.entries.length === 0 && addOnly)
          throw new RefusedError("refusing to empty rmtab while a journal is unreadable");
        const nowMs = ctx.now();
        appendQuarantine(p.quarantine, p.rmtab, r.parsed.malformed, new Date(nowMs));
        const next = toCountMap(plan.entries);
        g.own.markPending(r.current, next);
        writeFileAtomic(p.rmtab, content, {
          mtimeAfterMs: r.snap.mtimeMs,
          now: ctx.now,
          beforeRename: ctx.beforeRename,
        });
        g.own.commitPending(nowMs);
        written = true;
      } else if (!dryRun) {
        g.own.commitPending(ctx.now());
      }
      return {
        ...r.report,
        written,
        addOnly,
        added: plan.added,
        removed: plan.removed,
        changed: plan.changed,
        heldBack: plan.heldBack,
        unwritable: plan.unwritable,
        quarantined: dryRun ? [] : r.parsed.malformed,
        entries: plan.entries.length,
        rmtab: p.rmtab,
      };
    });
  } finally {
    g.own.close();
  }
}
