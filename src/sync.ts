// record and reconcile: read at the edges, decide in the pure planners,
// write under mountd's lock.
import { journalFile, paths, unitStateDir, type Config } from "./config.js";
import { createHash, randomUUID } from "node:crypto";
import { compareEvents, previewEvents, type Change, type JournalEvent } from "./core/events.js";
import { ExportIndex } from "./core/exports.js";
import { LineList } from "./core/line-list.js";
import { parseEtab } from "./core/etab.js";
import { HLC_ZERO, maxHlc, type Hlc } from "./core/hlc.js";
import { addedLines, changedLines, countLines, planLost, diffLines, holdBackWipe, planReconcile, planReconcileEdit, planRecord, serializePlan, toCountMap, type Ignored, type LineChange } from "./core/plan.js";
import { changedRegion, entryKey, parseRmtab, serializeRmtabBytes, type MalformedLine, type ParsedRmtab } from "./core/rmtab.js";
import { RefusedError, UsageError } from "./errors.js";
import { listJournalFiles, readJournals, rejectedProblem, requireMarker, type ControlVolume, type JournalProblem } from "./io/control.js";
import { requireStateDir } from "./io/state-dir.js";
import { appendQuarantine, lstatIfExists, readSnapshot, readTextIfExists, writeFileAtomic } from "./io/files.js";
import { isBranchFile, journalStamp, OwnJournal, readPublishedMarks, type Baseline, type ReadJournal } from "./io/journal.js";
import { readMarks, sameMarks, writeMarks } from "./io/marks.js";
import { contentFromRmtab, readLocalBaseline, writeLocalBaseline, type LocalBaseline } from "./io/local-baseline.js";
import { checkMarks, type Mark, type MarkProblem } from "./core/integrity.js";
import { publishOwnFactsIfMoved } from "./io/facts.js";
import { withRmtabLock } from "./io/lock.js";
import { spoolWaitingFor, takeUnitSpool, type SpoolRouting } from "./io/spool.js";
import { cleanTempJournals } from "./io/temp-journals.js";
import { FoldCache, FoldCacheDamaged, FoldStore, type CachedSource, type Unchanged } from "./io/fold-cache.js";
import { planSpool } from "./core/spool.js";

export interface SyncContext {
  readonly cfg: Config;
  readonly node: string;
  readonly lockTimeoutMs: number;
  /** Wall clock in ms; the only clock the engine reads. */
  readonly now: () => number;
  readonly warn: (msg: string) => void;
  /** Test hook: runs after each peer journal was read. */
  readonly afterJournalRead?: (file: string) => void;
  /** Test hook: runs after the journals were first read and before mountd's lock is taken. */
  readonly beforeLock?: () => void;
  /** Test hook: runs after the new rmtab is durable and before the rename. */
  readonly beforeRename?: () => void;
  /**
   * Runs at the end of the work done under mountd's lock with rmtab as that
   * work read or wrote it (the daemon notes what it has seen: a later look
   * at the file could see a change the work did not).
   */
  readonly insideLock?: (rmtab: Buffer) => void;
  /**
   * With export groups: how the node's callout spool is handed out to the
   * control directories, so that this one folds its own events only (see
   * src/io/spool.ts). Without, the node's spool is this control directory's.
   */
  readonly spool?: SpoolRouting;
  /**
   * `--accept-empty`: an rmtab found empty is journaled as the umounts of
   * every line it lost (see holdBackWipe); without it they are held back.
   */
  readonly acceptEmpty?: boolean;
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
  readonly ignored: LineList<Ignored>;
  readonly malformed: MalformedLine[];
  readonly hosted: string[];
  readonly problems: JournalProblem[];
  /** How many of `recorded` came from mountd's ha-callout spool (the rest from the file diff). */
  readonly spooled: number;
}

export interface ReconcileReport extends RecordReport {
  readonly written: boolean;
  readonly addOnly: boolean;
  readonly added: LineList<LineChange>;
  readonly removed: LineChange[];
  readonly changed: LineChange[];
  readonly heldBack: LineChange[];
  readonly unwritable: { client: string; path: string; problem: string }[];
  readonly quarantined: MalformedLine[];
  readonly entries: number;
  readonly rmtab: string;
}

/**
 * record and reconcile work on one control directory: a configuration with
 * groups goes through src/units.ts, which hands each its own view. Anything
 * else would journal a group's lines into the shared volume.
 */
function requireOneUnit(cfg: Config): void {
  if (cfg.groups.length > 0) throw new UsageError(`${cfg.file} has export groups: this command does not handle them yet (use record and reconcile, or the record path unit and reconcile timer)`);
}

/** This node's own journal; it must exist (rmtabsync init). `readOnly` (status) writes nothing. */
export function openOwn(ctx: SyncContext, readOnly = false): OwnJournal {
  const p = paths(ctx.cfg);
  return OwnJournal.open(journalFile(p.journals, ctx.node), {
    cluster: ctx.cfg.cluster,
    node: ctx.node,
    create: false,
    readOnly,
    now: new Date(ctx.now()),
  });
}

interface Gathered {
  own: OwnJournal;
  /** The fold of every journal read (read by key from the fold cache, or a new one). */
  fold: FoldStore;
  seen: Hlc;
  problems: JournalProblem[];
  journals: ReadJournal[];
  marks: Mark[];
  badMarks: Set<string>;
  /** The local copy of the baseline (survives a rolled-back control volume). */
  local: LocalBaseline | undefined;
  /** Events stamped later than this are held back (this node's clock plus the accepted skew). */
  futureAfterMs: number;
  /** journalStamp of our own journal before it was read. */
  ownStamp: string;
  /** The control volume's marker and filesystem, as checked. */
  control: ControlVolume;
  /** With a fold: what the fold cache needs to be written after rmtab is durable. */
  cache: CacheWork | undefined;
}

/** What a reconcile hands to the fold cache (src/io/fold-cache.ts). */
interface CacheWork {
  readonly key: string;
  /** Folded from the start (true) or from the cached fold plus the events past its marks. */
  readonly full: boolean;
  /** Keys whose winning event changed in this run (only with the cache: a fold from the start changes every key). */
  readonly changed: Set<string>;
  readonly sources: Map<string, CachedSource>;
  /** journalStamp of each peer journal, taken before it was read. */
  readonly stamps: ReadonlyMap<string, string>;
  /** Some journal holds events from the future: they must be read again, so no run is a no-op. */
  readonly futurePending: boolean;
}

/** The fold cache is valid for one configuration of one node. */
function foldCacheKey(ctx: SyncContext): string {
  const c = ctx.cfg;
  return createHash("sha256")
    .update(JSON.stringify([1, ctx.node, c.cluster, c.controlDir, c.stateDir, c.nodes, c.maxClockSkewMs, c.group ?? "", c.exports]))
    .digest("hex");
}

/** The invalid (not merely future) events of a journal, as one problem. */
function invalidProblem(j: ReadJournal): JournalProblem | undefined {
  return rejectedProblem({ ...j, rejected: j.rejected.filter((r) => r.kind === "invalid") });
}

/**
 * Checks what this node saw of every journal (its marks, kept outside the
 * control volume) and what the peers published they saw, against the
 * journals now on the volume. `published` was read before the journals, so
 * a mark can only point at an event the journal read later still holds,
 * unless it really went backwards or forked.
 */
export function integrityProblems(ctx: SyncContext, journals: readonly ReadJournal[], marks: readonly Mark[], published: ReadonlyMap<string, Mark[]>, unreadable: readonly JournalProblem[]) {
  const views = journals.map((j) => j.view);
  // a journal that cannot be read now is reported as such, not also as gone
  const known = marks.filter((m) => views.some((v) => v.journalId === m.journalId) || !unreadable.some((p) => p.node === m.node));
  const found: MarkProblem[] = [...checkMarks(known, views, `this node (${ctx.node})`)];
  for (const j of journals) {
    if (j.meta.node === ctx.node && !isBranchFile(j.file)) continue;
    const present = (published.get(j.file) ?? []).filter((m) => views.some((v) => v.journalId === m.journalId));
    found.push(...checkMarks(present, views, `node ${j.meta.node}`));
  }
  const seen = new Set<string>();
  const problems: JournalProblem[] = [];
  const bad = new Set<string>();
  for (const p of found) {
    bad.add(p.journalId);
    const key = `${p.journalId}/${p.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push({ file: p.file ?? journalFile(paths(ctx.cfg).journals, p.node), node: p.node, problem: p.problem, kind: p.kind });
  }
  return { problems, bad };
}

/** Sequence numbers, per journal id, that this node's and the published marks point at. */
function markInterest(marks: Iterable<Mark>): Map<string, number[]> {
  const interest = new Map<string, number[]>();
  for (const m of marks) {
    const seqs = interest.get(m.journalId) ?? [];
    if (!seqs.includes(m.seq)) seqs.push(m.seq);
    interest.set(m.journalId, seqs);
  }
  return interest;
}

/**
 * Reads this node's marks, what every node published it saw, then the
 * journals themselves (each in one read transaction), in that order.
 */
function gather(ctx: SyncContext, withFold: boolean, readOnly = false, save = !readOnly, useCache = true): Gathered {
  const control = requireMarker(ctx.cfg);
  const futureAfterMs = ctx.now() + ctx.cfg.maxClockSkewMs;
  const own = openOwn(ctx, readOnly);
  const key = withFold ? foldCacheKey(ctx) : "";
  let cache = withFold && useCache ? FoldCache.open(unitStateDir(ctx.cfg), key) : undefined;
  const exports = new ExportIndex(ctx.cfg.exports);
  const exportOf = (path: string): string => exports.exportOf(path)?.name ?? "";
  let store: FoldStore | undefined;
  try {
    const ownStamp = journalStamp(own.file);
    const marks = readMarks(unitStateDir(ctx.cfg));
    const published = new Map(listJournalFiles(paths(ctx.cfg).journals).map((f) => [f, readPublishedMarks(f)] as const));
    // only the hashes that marks point at are kept (and, without a fold, read)
    const interest = markInterest([...marks, ...[...published.values()].flat()]);
    // the cache serves only the same set of journals, each still holding the event its mark names
    if (cache && !sameKeys(published, cache.state.sources)) cache = dropCache(cache);
    // events are folded as they are read: the whole history is never held in memory
    const readAll = (c: FoldCache | undefined, fold: FoldStore) => {
      // the keys that changed past the cache's marks (from the start, every key: not kept, nothing uses them)
      const changed = new Set<string>();
      const sink = (e: JournalEvent) => {
        const k = entryKey(e.client, e.path);
        const cur = fold.get(k);
        if (cur === undefined || compareEvents(e, cur) > 0) {
          fold.set(k, e);
          if (c) changed.add(k);
        }
      };
      const from = (file: string) => c?.state.sources.get(file);
      // issue 10 hook: a journal without a high-water mark is folded from its latest-event table when it can be
      const latestTable = true;
      // a new fold file takes the tables' rows itself; with a cache, only events past its marks are read
      const importer = c ? undefined : fold;
      const set = readJournals(ctx.cfg, { skipFile: own.file, events: withFold, interest, futureAfterMs, afterRead: ctx.afterJournalRead, from, sink, latestTable, importer });
      const mine = own.read({ events: withFold, interest, futureAfterMs, from: from(own.file), sink, latestTable, importer });
      return { set, journals: [mine, ...set.journals], changed };
    };
    let read: ReturnType<typeof readAll> | undefined;
    if (cache) {
      // the cache's rows are read by key as the events past its marks need them (a damaged one is an empty one)
      store = cache.store(exportOf);
      try {
        read = readAll(cache, store);
        if (read.journals.some((j) => j.fromMismatch || cache!.state.sources.get(j.file)?.journalId !== j.meta.journalId)) read = undefined;
      } catch (err) {
        if (!(err instanceof FoldCacheDamaged)) throw err;
      }
      if (!read) {
        store.close();
        store = undefined;
        cache = dropCache(cache);
      }
    }
    if (!read) {
      store = withFold ? FoldStore.fresh(save ? unitStateDir(ctx.cfg) : undefined, undefined, exportOf) : FoldStore.none();
      read = readAll(undefined, store);
    }
    const fold = store!;
    const { set, journals, changed } = read;
    const mine = journals[0]!;
    const problems = [...set.problems];
    const mineBad = rejectedProblem(mine);
    if (mineBad) problems.push(mineBad);
    let seen: Hlc = cache ? cache.state.seen : HLC_ZERO;
    const sources = new Map<string, CachedSource>();
    let futurePending = false;
    for (const j of journals) {
      seen = maxHlc(seen, j.maxHlc);
      if (!withFold) continue;
      // invalid events before the mark stay a problem until the journal is folded from the start
      const before = cache?.state.sources.get(j.file)?.problem;
      const bad = invalidProblem(j) ?? before;
      if (before && !problems.some((p) => p.file === j.file)) problems.push(before);
      if (j.rejected.some((r) => r.kind === "future")) futurePending = true;
      if (j.resume)
        sources.set(j.file, {
          journalId: j.meta.journalId,
          seq: j.resume.seq,
          hash: j.resume.hash,
          ...(j.recompacted ? { recompacted: j.recompacted } : {}),
          ...(bad ? { problem: bad } : {}),
        });
    }
    const full = cache === undefined;
    cache?.close();
    const integrity = integrityProblems(ctx, journals, marks, published, set.problems);
    const local = readLocalBaseline(unitStateDir(ctx.cfg));
    if (local && local.hlc.wall <= futureAfterMs) seen = maxHlc(seen, local.hlc);
    return {
      own,
      fold,
      seen,
      problems: [...problems, ...integrity.problems],
      journals,
      marks,
      badMarks: integrity.bad,
      local,
      futureAfterMs,
      ownStamp,
      control,
      cache: withFold ? { key, full, changed, sources, stamps: set.stamps, futurePending } : undefined,
    };
  } catch (err) {
    cache?.close();
    store?.close();
    own.close();
    throw err;
  }
}

function sameKeys(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  return a.size === b.size && [...a.keys()].every((k) => b.has(k));
}

function dropCache(c: FoldCache): undefined {
  c.close();
  return undefined;
}

/**
 * Under mountd's lock: what gather read, or a fresh read when another
 * process on this node (the daemon, the timer, the agent) committed to our
 * journal since. Planning from the older read would undo what it recorded.
 */
function current(ctx: SyncContext, g: Gathered, withFold: boolean, readOnly: boolean, save = !readOnly, useCache = true): Gathered {
  if (journalStamp(g.own.file) === g.ownStamp) return g;
  release(g);
  return gather(ctx, withFold, readOnly, save, useCache);
}

/** Closes what gather opened (a new fold file that was not saved goes). */
function release(g: Gathered): void {
  g.fold.close();
  g.own.close();
}

/** Moves this node's marks to the newest event of every sound journal; publishes them. */
function advanceMarks(ctx: SyncContext, g: Gathered): void {
  const next = new Map(g.marks.map((m) => [m.journalId, m]));
  for (const j of g.journals) {
    if (g.badMarks.has(j.meta.journalId)) continue;
    if (j.lastSeq === 0) continue;
    next.set(j.meta.journalId, { journalId: j.meta.journalId, node: j.meta.node, seq: j.lastSeq, hash: j.lastHash });
  }
  if (!g.badMarks.has(g.own.meta.journalId)) {
    const tip = g.own.tip();
    if (tip.seq > 0) next.set(g.own.meta.journalId, { journalId: g.own.meta.journalId, node: ctx.node, seq: tip.seq, hash: tip.hash });
  }
  const marks = [...next.values()];
  if (sameMarks(marks, g.marks)) return;
  writeMarks(unitStateDir(ctx.cfg), marks);
  g.own.publishMarks(marks, ctx.now());
}

/**
 * Journals what mountd changed in the local rmtab since the last
 * record/reconcile. Takes mountd's lock shared, like its DUMP; exclusively
 * when the callout's spool has events to fold (see src/io/spool.ts).
 * `hosting` names exports to treat as exported here even when etab does not
 * list them: the Pacemaker agent's stop runs after exportfs has removed the
 * export and must still journal its last changes.
 */
export async function record(ctx: SyncContext, opts: { dryRun?: boolean; hosting?: readonly string[] } = {}): Promise<RecordReport> {
  requireOneUnit(ctx.cfg);
  const index = new ExportIndex(ctx.cfg.exports);
  const dryRun = !!opts.dryRun;
  requireStateDir(ctx.cfg);
  let g = gather(ctx, false);
  const lockFile = paths(ctx.cfg).lock;
  try {
    const hosting = opts.hosting ?? [];
    const exclusive = !dryRun && spoolWaitingFor(ctx.cfg.stateDir, ctx.spool);
    ctx.beforeLock?.();
    const shared = await withRmtabLock(lockFile, { exclusive, timeoutMs: ctx.lockTimeoutMs }, () => {
      g = current(ctx, g, false, false);
      // A spool that appeared while we waited for a shared lock needs the exclusive one.
      return exclusive || dryRun || !spoolWaitingFor(ctx.cfg.stateDir, ctx.spool) ? recordOnly(ctx, g, index, dryRun, exclusive, hosting) : undefined;
    });
    const report =
      shared ??
      (await withRmtabLock(lockFile, { exclusive: true, timeoutMs: ctx.lockTimeoutMs }, () => {
        g = current(ctx, g, false, false);
        return recordOnly(ctx, g, index, dryRun, true, hosting);
      }));
    if (!dryRun) refreshFacts(ctx, g.own, report.malformed);
    return report;
  } finally {
    release(g);
  }
}

/** What changed since the baseline, looking only at changed lines when it can. */
function planAgainstBaseline(
  parsed: ParsedRmtab,
  canonicalNow: Buffer,
  base: Baseline,
  hosted: ReadonlySet<string>,
  hostedBefore: ReadonlySet<string> | undefined,
  index: ExportIndex,
) {
  if (base.committed === undefined) return planRecord({ current: parsed.entries, baselines: [], hosted, index });
  if (base.pending === undefined) {
    if (canonicalNow.equals(base.committed)) return { changes: [], ignored: [] };
    // both canonical (no line twice): the lines outside the changed region are in both, and cancel out
    const region = changedRegion(canonicalNow, base.committed);
    const d = diffLines(region.current.toString("utf8"), region.base.toString("utf8"));
    return planRecord({ current: parseRmtab(d.added).entries, baselines: [toCountMap(parseRmtab(d.removed).entries)], hosted, hostedBefore, index });
  }
  const baselines = [base.committed, base.pending].map((b) => toCountMap(parseRmtab(b).entries));
  return planRecord({ current: parsed.entries, baselines, hosted, hostedBefore, index });
}

/**
 * A baseline's exports: those this node exported (etab, or --hosting of the
 * agent's start) and, marked "+name@etab", those among them the agent's start
 * took over that etab did not list yet, with etab's identity then (inode,
 * mtime, size). Export names never hold "+" or "@".
 */
function splitHosted(list: readonly string[] | undefined): { hosted: string[] | undefined; arriving: Map<string, string> } {
  if (list === undefined) return { hosted: undefined, arriving: new Map() };
  const arriving = new Map<string, string>();
  for (const x of list) {
    if (!x.startsWith("+")) continue;
    const at = x.indexOf("@");
    if (at > 0) arriving.set(x.slice(1, at), x.slice(at + 1));
  }
  return { hosted: list.filter((x) => !x.startsWith("+")), arriving };
}

function joinHosted(hosted: ReadonlySet<string>, arriving: ReadonlyMap<string, string>): string[] {
  return [...[...hosted].sort(), ...[...arriving].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([x, etab]) => `+${x}@${etab}`)];
}

/** etab as a file: a rewrite by exportfs changes it, even back to the same lines. */
function etabIdentity(cfg: Config): string {
  const st = lstatIfExists(paths(cfg).etab);
  return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : "none";
}

/** The filesystem a local baseline copy is tied to. */
function volumeKey(c: ControlVolume): string {
  return c.volume.uuid ? `uuid:${c.volume.uuid}` : `dev:${c.volume.dev}`;
}

/**
 * The local copy counts only when it was written against this journal on
 * this control volume (same marker id and filesystem): a copy written into
 * an old copy of the volume must not hide a change from the real one.
 */
function localApplies(g: Gathered, local: LocalBaseline): boolean {
  if (local.journalId !== g.own.meta.journalId) return false;
  if (local.markerId !== g.control.marker.id) return false;
  return local.volume === undefined || local.volume === volumeKey(g.control);
}

/**
 * The baseline to diff against: the journal's, or the local copy when it is
 * newer (the control volume was rolled back under us).
 */
function chooseBaseline(g: Gathered): { base: Baseline; nextGen: number; fromLocal: boolean } {
  const jb = g.own.baselineMeta();
  const local = g.local && localApplies(g, g.local) ? g.local : undefined;
  const nextGen = Math.max(jb.gen, g.local?.gen ?? 0) + 1;
  if (local && local.gen > jb.gen) return { base: { committed: local.content, pending: undefined, gen: local.gen, hosted: local.hosted, id: local.id }, nextGen, fromLocal: true };
  // the same content in both (one write names it in both): the journal's multi-megabyte copy is not read
  if (local && local.id !== undefined && local.id === jb.id && local.gen === jb.gen && !jb.hasPending)
    return { base: { committed: local.content, pending: undefined, gen: jb.gen, hosted: jb.hosted, id: jb.id }, nextGen, fromLocal: false };
  return { base: g.own.baseline(), nextGen, fromLocal: false };
}

/** The baseline's content becomes `content`, named `id`, in the local copy (after the journal). */
function saveLocal(ctx: SyncContext, g: Gathered, gen: number, id: string, hosted: readonly string[], content: Buffer): void {
  const own = g.own.seenHlc();
  const hlc = own.wall <= g.futureAfterMs ? maxHlc(own, g.seen) : g.seen;
  const next: LocalBaseline = { gen, id, journalId: g.own.meta.journalId, markerId: g.control.marker.id, volume: volumeKey(g.control), hosted: [...hosted], hlc, content };
  g.local = writeLocalBaseline(unitStateDir(ctx.cfg), next, g.local);
}

/**
 * Under the lock: the spool's events first (exact counts, in mountd's
 * order), then what the file differs from the baseline with the spool
 * applied. `exclusive` says whether the spool may be taken (and then must
 * be: a baseline moved past spool events would journal them twice).
 */
function recordOnly(ctx: SyncContext, g: Gathered, index: ExportIndex, dryRun: boolean, exclusive: boolean, hosting: readonly string[]): RecordReport {
  const r = recordLocked(ctx, g, index, dryRun, exclusive, hosting);
  if (!dryRun) advanceMarks(ctx, g);
  ctx.insideLock?.(r.snap.content);
  return r.report;
}

/**
 * `hosting`: exports journaled as if etab listed them. For record (the
 * agent's stop, releasing the export) the baseline still remembers only what
 * etab says, so an UMNTALL while the export lives elsewhere is never taken for
 * umounts when it comes back; for reconcile (the agent's start, taking it
 * over) the baseline counts them as hosted from now on (`keepHosting`).
 */
function recordLocked(ctx: SyncContext, g: Gathered, index: ExportIndex, dryRun: boolean, exclusive: boolean, hosting: readonly string[] = [], keepHosting = false) {
  const p = paths(ctx.cfg);
  const folded = new Set<string>(JSON.parse(g.own.localState("spool_folded") ?? "[]") as string[]);
  const spool = exclusive || dryRun ? takeUnitSpool(ctx.cfg.stateDir, ctx.spool, folded, { peek: dryRun, warn: ctx.warn }) : undefined;
  for (const pr of spool?.problems ?? []) ctx.warn(`${pr.where}: ${pr.problem}: ${JSON.stringify(pr.text)}`);
  const snap = readSnapshot(p.rmtab);
  // rmtab that starts with the local copy's content (mountd appended) holds that content: its base file is not read
  if (g.local) contentFromRmtab(g.local, snap.content);
  let parsedOnce: ParsedRmtab | undefined;
  const parse = (): ParsedRmtab => (parsedOnce ??= parseRmtab(snap.content));
  const { hosted, problems } = readHosted(ctx.cfg, index);
  for (const msg of problems) ctx.warn(msg);
  const { base, nextGen, fromLocal } = chooseBaseline(g);
  const was = splitHosted(base.hosted);
  // Taken over by the agent's start (reconcile --hosting) while etab, untouched since, does not list it
  // yet (exportfs runs next): its lines are planned as an export taken over (only growth is news), never
  // as one leaving, and it stays this node's. Once exportfs rewrote etab it is an export like any other
  // (listed: served; not listed any more: leaving); the agent's stop (record --hosting) ends it too.
  const etabNow = etabIdentity(ctx.cfg);
  const arriving = new Map([...was.arriving].filter(([x, etab]) => etab === etabNow && !hosted.has(x) && (keepHosting || !hosting.includes(x))));
  if (keepHosting) for (const x of hosting) if (!hosted.has(x) && !arriving.has(x)) arriving.set(x, etabNow);
  const saved = new Set([...hosted, ...(keepHosting ? hosting : []), ...arriving.keys()]);
  for (const name of [...hosting, ...arriving.keys()]) hosted.add(name);
  const hostedList = joinHosted(saved, arriving);
  const hostedBefore = was.hosted ? new Set(was.hosted.filter((x) => !arriving.has(x))) : undefined;
  // record (not reconcile, which needs every entry) of a file changed since a committed baseline: only the changed lines
  const spoolEvents = spool?.events ?? [];
  // a file changed since a committed baseline: only the changed lines and those the spool names (an UMNTALL without a path names every line of its client)
  const lines =
    base.pending === undefined && base.committed !== undefined && !spoolEvents.some((e) => e.op === "unmount-all" && e.path === "")
      ? changedLines(snap.content, base.committed, spoolEvents)
      : undefined;
  const canonical = (): Buffer => {
    const parsed = parse();
    return parsed.canonical ? snap.content : serializeRmtabBytes(parsed.entries);
  };
  const canonicalNow = lines ? snap.content : canonical();
  let changes: Change[];
  let ignored: LineList<Ignored>;
  let spooled = 0;
  // an rmtab found empty: the umounts read from the file (not the spool's, which mountd itself reported) may be a wipe
  const wipe = (fileChanges: Change[]) => {
    if (snap.content.length > 0 || ctx.acceptEmpty) return { changes: fileChanges, held: [] };
    const w = holdBackWipe(fileChanges, index);
    if (w.held.length > 0)
      ctx.warn(
        `${p.rmtab} is empty, but it held ${w.held.length} lines of exports exported here: taken for a wiped or replaced file, not as many umounts, so none is recorded and reconcile restores them (if every client did unmount: rmtabsync record --accept-empty)`,
      );
    return w;
  };
  if (spoolEvents.length > 0) {
    // exact counts from the callout first; then the file against the baseline with them applied
    const bases = lines ? [lines.base] : [base.committed, base.pending].filter((b): b is Buffer => b !== undefined).map((b) => toCountMap(parseRmtab(b).entries));
    const sp = planSpool({ events: spoolEvents, baselines: bases, hosted, index });
    const plan = planRecord({ current: lines ? lines.current : parse().entries, baselines: sp.baselines, hosted, hostedBefore, index });
    const fromFile = wipe(plan.changes);
    changes = [...sp.changes, ...fromFile.changes];
    const seenKeys = new Set<string>();
    ignored = LineList.of(
      [...plan.ignored, ...fromFile.held, ...sp.ignored].filter((i) => {
        const key = `${i.client}\n${i.path}`;
        if (seenKeys.has(key)) return false;
        seenKeys.add(key);
        return true;
      }),
    );
    spooled = sp.changes.length;
  } else {
    // lines that only vanished (an emptied rmtab, an UMNTALL) are read without an object per line, or not at all
    const plan =
      lines && lines.current.length === 0
        ? planLost(lines.region, hosted, hostedBefore, index)
        : lines
          ? planRecord({ current: lines.current, baselines: [lines.base], hosted, hostedBefore, index })
          : planAgainstBaseline(parse(), canonicalNow, base, hosted, hostedBefore, index);
    const fromFile = wipe(plan.changes);
    changes = fromFile.changes;
    ignored = (plan.ignored instanceof LineList ? plan.ignored : LineList.of(plan.ignored)).concat(fromFile.held);
  }
  const nowMs = ctx.now();
  // nothing moved (the path unit fired for an rmtab that is back as it was, or a reconcile with no
  // local change): only the time is noted; the baseline, its generation and the local copy stay
  const nothing =
    changes.length === 0 &&
    !(spool && spool.ids.length > 0) &&
    !fromLocal &&
    base.pending === undefined &&
    base.committed !== undefined &&
    base.hosted !== undefined &&
    base.hosted.join("\n") === hostedList.join("\n") &&
    base.committed.equals(canonicalNow);
  // a canonical file has no malformed line: the quick path never parsed the rest
  const malformed = lines ? [] : parse().malformed;
  if (nothing && !dryRun) {
    g.own.noteRecorded(nowMs);
    spool?.finish();
    const report: RecordReport = { node: ctx.node, dryRun, first: false, recorded: [], ignored, malformed, hosted: [...hosted].sort(), problems: g.problems, spooled };
    // the journal's baseline stays: its id names this content
    const committed = base.id !== undefined ? { id: base.id, content: base.committed } : undefined;
    return { report, snap, parse, lines, fromLocal, hosted, hostedList, recorded: [] as JournalEvent[], nextGen: base.gen, heldOut: new Set<string>(), heldExports: new Set<string>(), committed };
  }
  // A node's first record cannot tell whether a line of an export it does not export now was served
  // here: etab may have lost the export just before (the Pacemaker agent's stop runs exportfs -u, then
  // record --hosting). Such a line stays out of the baseline, so the agent's record still journals it;
  // a later plain record takes it for a foreign line, as it would have been taken here.
  const heldOut = new Set<string>();
  const heldExports = new Set<string>();
  if (base.committed === undefined && base.pending === undefined)
    ignored = LineList.of(ignored.map((i) => {
      if (hosted.has(i.export)) return i;
      heldOut.add(entryKey(i.client, i.path));
      heldExports.add(i.export);
      return { ...i, reason: `${i.reason}; this node's first record keeps it out of its baseline, so that record --hosting ${i.export} (the agent's stop) still journals it` };
    }));
  const baselineNow = withoutKeys(canonicalNow, heldOut);
  const baselineId = randomUUID();
  const recorded = dryRun
    ? previewEvents(changes, ctx.node, g.seen, nowMs)
    : g.own.commitRecord({
        changes,
        seen: g.seen,
        nowMs,
        current: baselineNow,
        id: baselineId,
        ...(base.id !== undefined && base.committed !== undefined && base.pending === undefined ? { previous: { id: base.id, content: base.committed } } : {}),
        hosted: hostedList,
        gen: nextGen,
        what: "record",
        futureAfterMs: g.futureAfterMs,
        state: {
          ...(spool && spool.ids.length > 0 ? { spool_folded: JSON.stringify(spool.ids) } : {}),
          // a line not journaled now is one the next reconcile could not find among the changed keys
          ...(!ignored.empty || fromLocal ? { [CLEAN_KEY]: "" } : {}),
        },
      });
  if (!dryRun) saveLocal(ctx, g, nextGen, baselineId, hostedList, baselineNow);
  spool?.finish();
  const report: RecordReport = {
    node: ctx.node,
    dryRun,
    first: base.committed === undefined,
    recorded,
    ignored,
    malformed,
    hosted: [...hosted].sort(),
    problems: g.problems,
    spooled,
  };
  const committed = dryRun ? undefined : { id: baselineId, content: baselineNow };
  return { report, snap, parse, lines, fromLocal, hosted, hostedList, recorded, nextGen, heldOut, heldExports, committed };
}

/**
 * Records, folds every journal and rewrites rmtab under mountd's lock.
 * `dryRun` writes nothing and takes the lock shared (like mountd's DUMP);
 * `readOnly` (status) also opens this node's journal read-only and never
 * creates the lock file (a missing one means no mountd holds it).
 */
export async function reconcile(ctx: SyncContext, opts: { dryRun?: boolean; readOnly?: boolean; hosting?: readonly string[] } = {}): Promise<ReconcileReport> {
  try {
    return await reconcileOnce(ctx, opts, true);
  } catch (err) {
    // a page of the fold cache that cannot be read: the cache is only an accelerator
    if (!(err instanceof FoldCacheDamaged)) throw err;
    ctx.warn(`${err.message}; folding every journal instead`);
    return await reconcileOnce(ctx, opts, false);
  }
}

async function reconcileOnce(ctx: SyncContext, opts: { dryRun?: boolean; readOnly?: boolean; hosting?: readonly string[] }, useCache: boolean): Promise<ReconcileReport> {
  requireOneUnit(ctx.cfg);
  const index = new ExportIndex(ctx.cfg.exports);
  const readOnly = !!opts.readOnly;
  const dryRun = !!opts.dryRun || readOnly;
  requireStateDir(ctx.cfg);
  const p = paths(ctx.cfg);
  const hosting = [...new Set(opts.hosting ?? [])].sort();
  if (!dryRun && useCache) {
    // the timer's usual case: nothing moved since the last reconcile
    const quiet = await reconcileIfUnchanged(ctx, index, hosting);
    if (quiet) return quiet;
  }
  let g = gather(ctx, true, readOnly, !dryRun, useCache);
  // recover's temporary journals left by a killed run (never read as journals)
  if (!dryRun) cleanTempJournals(p.journals, ctx.now(), ctx.warn);
  try {
    ctx.beforeLock?.();
    let unchanged: Unchanged | undefined;
    const report = await withRmtabLock(p.lock, { exclusive: !dryRun, timeoutMs: ctx.lockTimeoutMs, create: !readOnly }, (): ReconcileReport => {
      g = current(ctx, g, true, readOnly, !dryRun, useCache);
      const r = recordLocked(ctx, g, index, dryRun, !dryRun, hosting, true);
      for (const e of r.recorded) {
        const k = entryKey(e.client, e.path);
        const cur = g.fold.get(k);
        if (cur === undefined || compareEvents(e, cur) > 0) {
          g.fold.set(k, e);
          g.cache?.changed.add(k);
        }
      }
      // a group's exports are managed where they are served; the shared volume also pre-populates those this node may take over
      const managed = new Set([...r.hosted, ...(ctx.cfg.group === undefined ? index.eligibleFor(ctx.node) : [])]);
      const addOnly = g.problems.length > 0;
      // our own journal rolled back or forked: our lost events are not in the fold, so the
      // exports we serve keep mountd's lines as they are until recover; and so do the exports of
      // lines this node's first record kept out of its baseline (they may still be journaled)
      const frozenExports = new Set([...(g.badMarks.has(g.own.meta.journalId) ? r.hosted : []), ...r.heldExports]);
      const frozen = frozenExports.size > 0 ? frozenExports : undefined;
      const clean = cleanState(managed);
      // rmtab agreed with the fold at the last reconcile: only the keys that changed since can differ
      const edit =
        r.lines && g.cache && !g.cache.full && !addOnly && !frozen && !r.fromLocal && g.own.localState(CLEAN_KEY) === clean
          ? planReconcileEdit(r.snap.content, new Set([...g.cache.changed, ...r.lines.current.map((e) => entryKey(e.client, e.path)), ...r.lines.base.keys()]), g.fold, managed, index)
          : undefined;
      const parsed = edit ? undefined : r.parse();
      const image = edit ? undefined : g.fold.images(!dryRun, (name) => index.soleRoot(name));
      const plan =
        edit?.plan ??
        planReconcile({ current: parsed!.entries, currentIndex: parsed!.index, fold: (exports) => g.fold.mounted(exports), ...(image ? { image } : {}), managed, index, addOnly, frozen });
      // bytes all the way to the file, the baseline and the hashes (a 100k-line rmtab is 4 MB to decode);
      // a canonical rmtab whose lines all stay is its own serialization
      const kept = parsed?.canonical === true && plan.lines === parsed.entries.length && plan.removed.length === 0 && plan.changed.length === 0;
      const content = edit ? edit.content : kept ? r.snap.content : serializePlan(plan);
      const malformed = parsed?.malformed ?? [];
      const entries = edit ? countLines(edit.content) : plan.lines;
      const nextClean = { [CLEAN_KEY]: !addOnly && !frozen && plan.heldBack.length === 0 && plan.unwritable.length === 0 ? clean : "" };
      const same = content.equals(r.snap.content) && malformed.length === 0 && (r.snap.exists || content.length === 0);
      let written = false;
      if (!same && !dryRun) {
        if (r.snap.content.length > 0 && entries === 0 && addOnly)
          throw new RefusedError("refusing to empty rmtab while a journal is unreadable");
        const nowMs = ctx.now();
        appendQuarantine(p.quarantine, p.rmtab, malformed, new Date(nowMs));
        // the baseline: what was written, without the lines the first record kept out of it
        const baseline = withoutKeys(content, r.heldOut);
        // only what differs from the journal's baseline, when this run knows it (a takeover's new lines, a peer's one)
        g.own.markPending(baseline, r.hostedList, r.committed);
        writeFileAtomic(p.rmtab, content, {
          // like mountd: a symlinked rmtab is followed, its mode kept (README, Safety)
          followSymlink: true,
          mode: "keep",
          mtimeAfterMs: r.snap.mtimeMs,
          now: ctx.now,
          beforeRename: ctx.beforeRename,
        });
        const id = randomUUID();
        g.own.commitPending(nowMs, { gen: r.nextGen + 1, id, content: baseline }, nextClean);
        saveLocal(ctx, g, r.nextGen + 1, id, r.hostedList, baseline);
        written = true;
      } else if (!dryRun) {
        g.own.commitPending(ctx.now(), undefined, nextClean);
      }
      if (!dryRun) {
        advanceMarks(ctx, g);
        unchanged = whatUnchanged(ctx, g, written ? content : r.snap.content, hosting, entries);
      }
      ctx.insideLock?.(written ? content : r.snap.content);
      return {
        ...r.report,
        written,
        addOnly,
        added: addedLines(plan),
        removed: plan.removed,
        changed: plan.changed,
        heldBack: plan.heldBack,
        unwritable: plan.unwritable,
        // what is (or, in a dry run, would be) quarantined: every malformed line goes when rmtab is written
        quarantined: malformed,
        entries,
        rmtab: p.rmtab,
      };
    });
    if (!dryRun) {
      saveFoldCache(ctx, g, unchanged);
      refreshFacts(ctx, g.own, report.written ? [] : report.malformed);
    }
    return report;
  } finally {
    release(g);
  }
}

/** Local state key: the managed exports when rmtab last agreed with the fold (see planReconcileEdit); "" when it may not. */
const CLEAN_KEY = "reconcile_clean";

function cleanState(managed: ReadonlySet<string>): string {
  return JSON.stringify({ managed: [...managed].sort() });
}

/** Canonical content without the lines of `keys` (the same buffer when there are none). */
function withoutKeys(content: Buffer, keys: ReadonlySet<string>): Buffer {
  if (keys.size === 0) return content;
  return serializeRmtabBytes(parseRmtab(content).entries.filter((e) => !keys.has(entryKey(e.client, e.path))));
}

/** The lines of `rmtab`, which still has the hash `u` noted: as noted (a cache is input: checked), or counted. */
function entriesOf(u: Unchanged, rmtab: Buffer): number {
  return u.entries !== undefined && Number.isSafeInteger(u.entries) && u.entries >= 0 && u.entries <= rmtab.length ? u.entries : countLines(rmtab);
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/** This node's journal as far as the fold is concerned: its newest event. */
function ownTip(own: OwnJournal): string {
  const t = own.tip();
  return `tip:${t.seq}:${t.hash}`;
}

/** What must stay as it is for the next reconcile to have nothing to do (under the lock, rmtab durable). */
function whatUnchanged(ctx: SyncContext, g: Gathered, rmtab: string | Buffer, hosting: readonly string[], entries: number): Unchanged | undefined {
  const c = g.cache;
  if (!c || c.futurePending) return undefined;
  const journals: Record<string, string> = { [g.own.file]: ownTip(g.own) };
  for (const [f, st] of c.stamps) journals[f] = st;
  return { journals, rmtab: sha256(rmtab), etab: sha256(readTextIfExists(paths(ctx.cfg).etab) ?? ""), hosting: [...hosting], problems: g.problems, entries };
}

/** After rmtab is durable: the fold and the marks it was folded to. A failure only costs the next run a full fold. */
function saveFoldCache(ctx: SyncContext, g: Gathered, unchanged: Unchanged | undefined): void {
  const c = g.cache;
  if (!c) return;
  // our own events recorded in this run are folded: our mark moves past them
  const tip = g.own.tip();
  const mine = c.sources.get(g.own.file);
  if (mine && !c.futurePending) c.sources.set(g.own.file, { ...mine, seq: tip.seq, hash: tip.hash });
  const w = g.fold.save(unitStateDir(ctx.cfg), { key: c.key, sources: c.sources, seen: g.seen, unchanged });
  if (w) ctx.warn(w.error);
}

/**
 * rmtab as it is now when everything the last reconcile noted in `u` is as
 * it left it (the same journals, each unchanged, rmtab and etab); undefined
 * when something moved.
 */
function stillUnchanged(ctx: SyncContext, u: Unchanged, own: OwnJournal): Buffer | undefined {
  if (!journalsUnchanged(ctx, u, own)) return undefined;
  const p = paths(ctx.cfg);
  const rmtab = readSnapshot(p.rmtab).content;
  return sha256(rmtab) === u.rmtab && sha256(readTextIfExists(p.etab) ?? "") === u.etab ? rmtab : undefined;
}

/** The journals are the ones the last reconcile noted in `u`, each unchanged (a few stats and one query). */
function journalsUnchanged(ctx: SyncContext, u: Unchanged, own: OwnJournal): boolean {
  const files = listJournalFiles(paths(ctx.cfg).journals);
  if (files.length !== Object.keys(u.journals).length) return false;
  for (const f of files) {
    const was = u.journals[f];
    try {
      if (was === undefined || was !== (f === own.file ? ownTip(own) : journalStamp(f))) return false;
    } catch {
      return false; // the full path names what is wrong with it
    }
  }
  return true;
}

/**
 * For status, without writing: what the last reconcile left when nothing
 * moved since (a reconcile now would change nothing), so that a check every
 * minute costs a few stats and two hashes, not a fold. Checked under a
 * shared lock, like the dry run: a lock mountd keeps is reported (thrown).
 * Undefined when only a dry run can tell (no cache, a spool waiting, the
 * last reconcile ran with --hosting, something moved).
 */
export async function quietSinceLastReconcile(ctx: SyncContext): Promise<{ entries: number; problems: readonly JournalProblem[] } | undefined> {
  const cache = FoldCache.open(unitStateDir(ctx.cfg), foldCacheKey(ctx), { readOnly: true });
  const u = cache?.state.unchanged;
  cache?.close();
  if (!u || u.hosting.length > 0 || spoolWaitingFor(ctx.cfg.stateDir, ctx.spool)) return undefined;
  let own: OwnJournal;
  try {
    own = openOwn(ctx, true);
  } catch {
    return undefined; // the dry run says what is wrong
  }
  try {
    return await withRmtabLock(paths(ctx.cfg).lock, { exclusive: false, timeoutMs: ctx.lockTimeoutMs, create: false }, () => {
      let rmtab: Buffer | undefined;
      try {
        rmtab = stillUnchanged(ctx, u, own);
      } catch {
        return undefined;
      }
      return rmtab && { entries: entriesOf(u, rmtab), problems: u.problems };
    });
  } finally {
    own.close();
  }
}

/**
 * Nothing moved since the last reconcile (same journals, each unchanged,
 * rmtab and etab as it left them, no spool): checked without the lock, then
 * again under it. Only the reconcile time is noted, and the facts at most
 * once a minute. Returns undefined when there is work to do.
 */
async function reconcileIfUnchanged(ctx: SyncContext, index: ExportIndex, hosting: readonly string[]): Promise<ReconcileReport | undefined> {
  const cache = FoldCache.open(unitStateDir(ctx.cfg), foldCacheKey(ctx));
  const u = cache?.state.unchanged;
  cache?.close();
  if (!u || hosting.join("\n") !== u.hosting.join("\n") || spoolWaitingFor(ctx.cfg.stateDir, ctx.spool)) return undefined;
  requireMarker(ctx.cfg);
  const p = paths(ctx.cfg);
  const own = openOwn(ctx);
  try {
    // rmtab is read and hashed once, under the lock
    if (!journalsUnchanged(ctx, u, own)) return undefined;
    ctx.beforeLock?.();
    const report = await withRmtabLock(p.lock, { exclusive: true, timeoutMs: ctx.lockTimeoutMs }, (): ReconcileReport | undefined => {
      const rmtab = stillUnchanged(ctx, u, own);
      if (rmtab === undefined || spoolWaitingFor(ctx.cfg.stateDir, ctx.spool)) return undefined;
      own.commitPending(ctx.now());
      // rmtab is as the last reconcile left it (read under this lock): canonical lines, none malformed (no parse needed)
      const entries = entriesOf(u, rmtab);
      const { hosted } = readHosted(ctx.cfg, index);
      for (const name of hosting) hosted.add(name);
      ctx.insideLock?.(rmtab);
      return {
        node: ctx.node,
        dryRun: false,
        first: false,
        recorded: [],
        ignored: LineList.of<Ignored>([]),
        malformed: [],
        hosted: [...hosted].sort(),
        problems: [...u.problems],
        spooled: 0,
        written: false,
        addOnly: u.problems.length > 0,
        added: LineList.of<LineChange>([]),
        removed: [],
        changed: [],
        heldBack: [],
        unwritable: [],
        quarantined: [],
        entries,
        rmtab: p.rmtab,
      };
    });
    if (report) refreshFacts(ctx, own, report.malformed);
    return report;
  } finally {
    own.close();
  }
}

/**
 * After the record step, outside mountd's lock: publishes this node's facts
 * (a new journal row only when they changed; collected only when what a
 * failover moves changed, else once a minute: publishOwnFactsIfMoved). Facts feed `doctor`; failing
 * to collect them must not fail the rmtab work that already succeeded, so a
 * failure is reported as a warning.
 */
function refreshFacts(ctx: SyncContext, own: OwnJournal, rmtabMalformed?: readonly MalformedLine[]): void {
  try {
    publishOwnFactsIfMoved(ctx.cfg, own, ctx.now(), { rmtabMalformed: rmtabMalformed?.map((m) => ({ line: m.line, problem: m.problem })) });
  } catch (err) {
    ctx.warn(`could not publish node facts: ${err instanceof Error ? err.message : String(err)}`);
  }
}
