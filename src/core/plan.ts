// The two planners at the heart of rmtabsync. Pure: they take what was read
// (rmtab, baseline, etab, the folded journals) and return what to do.
import type { Change } from "./events.js";
import type { ExportIndex } from "./exports.js";
import { EntryIndex } from "./entry-index.js";
import { changedRegion, entryKey, entryProblem, formatLine, parseRmtab, type RmtabEntry } from "./rmtab.js";

export type CountMap = ReadonlyMap<string, RmtabEntry>;

export function toCountMap(entries: Iterable<RmtabEntry>): Map<string, RmtabEntry> {
  const m = new Map<string, RmtabEntry>();
  for (const e of entries) m.set(entryKey(e.client, e.path), e);
  return m;
}

/**
 * Lines of `current` that `base` lacks, and the reverse. Both must be
 * canonical rmtab content (one line per client+path): then a record only
 * has to look at these lines.
 */
export function diffLines(current: string, base: string): { added: string; removed: string } {
  const cur = current.split("\n");
  const old = base.split("\n");
  const oldSet = new Set(old);
  const curSet = new Set(cur);
  const added = cur.filter((l) => l !== "" && !oldSet.has(l));
  const removed = old.filter((l) => l !== "" && !curSet.has(l));
  const join = (ls: string[]) => (ls.length ? `${ls.join("\n")}\n` : "");
  return { added: join(added), removed: join(removed) };
}

export interface RecordInput {
  /** rmtab as read now (malformed lines already set aside). */
  readonly current: readonly RmtabEntry[];
  /**
   * What rmtab held after the last record/reconcile. Empty for a node's
   * first record. Two candidates after a reconcile that may have crashed
   * between committing its baseline and renaming rmtab: then a change is
   * only what differs from both.
   */
  readonly baselines: readonly CountMap[];
  /** Exports this node exports now (per etab, plus `--hosting`). */
  readonly hosted: ReadonlySet<string>;
  /**
   * Exports it exported when the baseline was taken (undefined: unknown, as
   * hosted). A line of an export taken over since then may have been dropped
   * by an UMNTALL while the export lived elsewhere: only what grew is news.
   */
  readonly hostedBefore?: ReadonlySet<string>;
  readonly index: ExportIndex;
}

export interface Ignored {
  readonly client: string;
  readonly path: string;
  readonly export: string;
  readonly reason: string;
}

export interface RecordPlan {
  readonly changes: Change[];
  /** Changes mountd made to exports this node does not host: not journaled, reconcile restores them. */
  readonly ignored: Ignored[];
}

/** What mountd changed in rmtab since the baseline, as journal changes. */
export function planRecord(input: RecordInput): RecordPlan {
  const current = toCountMap(input.current);
  const baselines = input.baselines.length > 0 ? input.baselines : [new Map<string, RmtabEntry>()];
  const changes: Change[] = [];
  const ignored: Ignored[] = [];
  // one reason string per export and kind (a takeover ignores 100k lines of a few exports)
  const reasons = new Map<string, string>();
  const reason = (kind: "foreign" | "taken", name: string): string => {
    const k = `${kind}\n${name}`;
    let r = reasons.get(k);
    if (r === undefined) {
      r =
        kind === "foreign"
          ? `export ${name} is not exported by this node (etab)`
          : `export ${name} was taken over since the last record: a line that shrank or vanished meanwhile may be an UMNTALL from before`;
      reasons.set(k, r);
    }
    return r;
  };
  // every key of rmtab and of the baselines, once: rmtab's, then each baseline's not seen before
  function* keys(): Generator<string> {
    yield* current.keys();
    const earlier = (k: string, i: number) => {
      for (let j = 0; j < i; j++) if (baselines[j]!.has(k)) return true;
      return false;
    };
    for (let i = 0; i < baselines.length; i++) for (const k of baselines[i]!.keys()) if (!current.has(k) && !earlier(k, i)) yield k;
  }
  for (const key of keys()) {
    const cur = current.get(key);
    const curCount = cur?.count ?? 0;
    // the count in each baseline: unchanged from any of them is no change; the highest and a line to name
    let unchanged = false;
    let maxBefore = 0;
    let old: RmtabEntry | undefined;
    for (const b of baselines) {
      const e = b.get(key);
      const c = e?.count ?? 0;
      if (c === curCount) unchanged = true;
      if (c > maxBefore) maxBefore = c;
      old ??= e;
    }
    if (unchanged) continue;
    const sample = cur ?? old!;
    const exp = input.index.exportOf(sample.path);
    if (!exp) continue; // unmanaged: kept in rmtab as it is, never journaled
    // Exported when the baseline was taken, not in etab now: exportfs -u ran
    // since (the agent's stop, before its `record --hosting`). mountd made
    // these changes while it still served the export (it refuses MNT and UMNT
    // of what it does not export), so they are journaled like the agent's
    // record would have journaled them.
    const leaving = input.hostedBefore?.has(exp.name) === true;
    if (!input.hosted.has(exp.name) && !leaving) {
      ignored.push({ client: sample.client, path: sample.path, export: exp.name, reason: reason("foreign", exp.name) });
      continue;
    }
    if (input.hostedBefore !== undefined && !input.hostedBefore.has(exp.name) && curCount <= maxBefore) {
      ignored.push({ client: sample.client, path: sample.path, export: exp.name, reason: reason("taken", exp.name) });
      continue;
    }
    let op: Change["op"];
    if (curCount === 0) op = "umount";
    else if (maxBefore === 0) op = "mount";
    else op = "count";
    changes.push({ op, client: sample.client, path: sample.path, count: curCount });
  }
  changes.sort((a, b) => cmp(a.path, b.path) || cmp(a.client, b.client));
  return { changes, ignored };
}

/** From this many clients on, an rmtab found empty is taken for a wiped file. */
export const WIPED_MIN_CLIENTS = 2;

/**
 * The umounts a record read from an rmtab found empty (missing or 0 bytes),
 * held back when they are of WIPED_MIN_CLIENTS or more clients: mountd
 * drops one line per UMNT and one client's lines per UMNTALL, so the lines
 * of several clients gone at once, leaving nothing, are far more often a
 * file wiped or replaced (a cleanup script, a restored or re-created
 * /var/lib/nfs) than every client unmounting between two records. Held
 * back, they stay mounted in the journals and reconcile writes the lines
 * back; `--accept-empty` journals them. Umounts mountd's callout reported
 * are not file changes and never come here.
 */
export function holdBackWipe(changes: readonly Change[], index: ExportIndex): { changes: Change[]; held: Ignored[] } {
  const umounts = changes.filter((c) => c.op === "umount");
  if (new Set(umounts.map((c) => c.client)).size < WIPED_MIN_CLIENTS) return { changes: [...changes], held: [] };
  const reason = `rmtab is empty but held ${umounts.length} lines of exports exported here: a wiped file, not ${umounts.length} umounts (rmtabsync record --accept-empty records them)`;
  return {
    changes: changes.filter((c) => c.op !== "umount"),
    held: umounts.map((c) => ({ client: c.client, path: c.path, export: index.exportOf(c.path)?.name ?? "", reason })),
  };
}

export interface ReconcileInput {
  /** rmtab's entries, each client+path once (as parseRmtab merges them). */
  readonly current: readonly RmtabEntry[];
  /** Where each client+path stands in `current` (parseRmtab's index); built when not given. */
  readonly currentIndex?: EntryIndex;
  /**
   * The entries of the fold of every readable journal, this run's own
   * changes included, each client+path once; those with a count of 0 may be
   * left out: they are planned as absent. Taken once, in order (the fold
   * store reads them from its file as they are taken).
   */
  readonly fold: Iterable<RmtabEntry>;
  /** Exports this node hosts now or may take over. */
  readonly managed: ReadonlySet<string>;
  readonly index: ExportIndex;
  /** A journal could not be read: add entries, remove none, lower no count. */
  readonly addOnly: boolean;
  /**
   * Exports whose lines stay exactly as rmtab has them: those this node
   * exports while its own journal is rolled back or forked. Its lost events
   * are not in the fold until recover, and mountd's own file is the truth.
   */
  readonly frozen?: ReadonlySet<string>;
}

export interface LineChange {
  readonly client: string;
  readonly path: string;
  readonly export: string | null;
  readonly from: number;
  readonly to: number;
}

export interface ReconcilePlan {
  readonly entries: RmtabEntry[];
  readonly added: LineChange[];
  readonly removed: LineChange[];
  readonly changed: LineChange[];
  /** Removals add-only mode held back. */
  readonly heldBack: LineChange[];
  /** Journal entries that cannot be written as rmtab lines. */
  readonly unwritable: { client: string; path: string; problem: string }[];
}

/** The rmtab this node should have. Existing lines keep their order; new ones follow, sorted. */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { index, managed, addOnly } = input;
  const out: RmtabEntry[] = [];
  const added: LineChange[] = [];
  const removed: LineChange[] = [];
  const changed: LineChange[] = [];
  const heldBack: LineChange[] = [];
  const unwritable: ReconcilePlan["unwritable"] = [];
  const at = input.currentIndex ?? EntryIndex.of(input.current);
  // the folded count of each line of rmtab (0: none); the fold's other entries are new lines
  const folded = new Float64Array(input.current.length);
  for (const ev of input.fold) {
    if (ev.count <= 0) continue;
    const i = at.size === 0 ? undefined : at.get(ev.client, ev.path);
    if (i !== undefined) {
      folded[i] = ev.count;
      continue;
    }
    const exp = index.exportOf(ev.path);
    if (!exp || !managed.has(exp.name) || input.frozen?.has(exp.name)) continue;
    const problem = entryProblem(ev);
    if (problem) {
      unwritable.push({ client: ev.client, path: ev.path, problem });
      continue;
    }
    added.push({ client: ev.client, path: ev.path, export: exp.name, from: 0, to: ev.count });
  }

  for (let i = 0; i < input.current.length; i++) {
    const e = input.current[i]!;
    const exp = index.exportOf(e.path);
    if (!exp) {
      out.push(e); // unmanaged: untouched
      continue;
    }
    if (input.frozen?.has(exp.name)) {
      out.push(e);
      continue;
    }
    const want = managed.has(exp.name) ? folded[i]! : 0;
    const change = { client: e.client, path: e.path, export: exp.name, from: e.count };
    if (want === e.count) out.push(e);
    else if (addOnly && want < e.count) {
      out.push(e);
      heldBack.push({ ...change, to: want });
    } else if (want === 0) removed.push({ ...change, to: 0 });
    else {
      out.push({ ...e, count: want });
      changed.push({ ...change, to: want });
    }
  }

  added.sort((a, b) => cmp(a.path, b.path) || cmp(a.client, b.client));
  for (const a of added) out.push({ client: a.client, path: a.path, count: a.to });
  return { entries: out, added, removed, changed, heldBack, unwritable };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** More changed lines than this and record parses the whole file (each one costs a search of it). */
const REGION_MAX_LINES = 32;

/** The lines a record has to look at, as they stand in rmtab now and in the baseline. */
export interface ChangedLines {
  readonly current: RmtabEntry[];
  readonly base: Map<string, RmtabEntry>;
}

/**
 * record's usual case, in O(change): rmtab against the last committed
 * baseline (canonical), parsing only the lines between their common first
 * and last lines, plus the lines of `also` (the client+path pairs the
 * callout's spool names) wherever they stand. Undefined when only a full
 * parse can tell: a malformed, duplicated or non-canonical line in the
 * region (the full parse reports it), or too many lines.
 */
export function changedLines(content: Buffer, committed: Buffer, also: readonly { client: string; path: string }[] = []): ChangedLines | undefined {
  const region = changedRegion(content, committed);
  const now = parseRmtab(region.current);
  if (!now.canonical || now.entries.length + also.length > REGION_MAX_LINES) return undefined;
  const base = toCountMap(parseRmtab(region.base).entries);
  const current = [...now.entries];
  const inRegion = new Set(current.map((e) => entryKey(e.client, e.path)));
  // a client+path of the region that also stands outside it is a duplicate line: not canonical
  for (const e of now.entries) if (!base.has(entryKey(e.client, e.path)) && linesOf(content, e, region.start, region.start + region.current.length).length > 0) return undefined;
  for (const a of also) {
    const key = entryKey(a.client, a.path);
    if (inRegion.has(key) || base.has(key)) continue;
    // outside the region: the same line in both (its count is in the unchanged bytes)
    const found = linesOf(committed, a, region.start, region.start + region.base.length);
    if (found.length > 1) return undefined;
    const line = found[0];
    if (line === undefined) continue;
    const e = parseRmtab(line).entries[0];
    if (e === undefined) return undefined;
    base.set(key, e);
    current.push(e);
    inRegion.add(key);
  }
  return { current, base };
}

/** What planChangedRegion needs to plan a record without a spool. */
export function planChangedRegion(content: Buffer, committed: Buffer, hosted: ReadonlySet<string>, hostedBefore: ReadonlySet<string> | undefined, index: ExportIndex) {
  const lines = changedLines(content, committed);
  return lines && planRecord({ current: lines.current, baselines: [lines.base], hosted, hostedBefore, index });
}

/** The lines for e's client and path in `content` (each with its newline) outside [skipFrom, skipTo). */
function linesOf(content: Buffer, e: { client: string; path: string }, skipFrom: number, skipTo: number): Buffer[] {
  return lineStarts(content, e)
    .filter((at) => at < skipFrom || at >= skipTo)
    .map((at) => {
      const nl = content.indexOf(0x0a, at);
      return content.subarray(at, nl < 0 ? content.length : nl + 1);
    });
}

/** More keys than this and reconcile plans the whole file (each one costs a search of it). */
const EDIT_MAX_KEYS = 256;

/** rmtab rewritten by editing the lines of a few keys in place. */
export interface ReconcileEdit {
  readonly content: Buffer;
  readonly plan: ReconcilePlan;
}

/**
 * planReconcile in O(change), for an rmtab that agreed with the fold at
 * the last reconcile (no line held back, none unwritable, not add-only,
 * the same managed exports) and has changed since only at `keys`: the
 * client+path pairs whose folded event changed, and the lines mountd
 * changed. Those lines are planned as planReconcile plans them and edited
 * in place; new ones follow, sorted. Every other line is what the full
 * plan would keep, so the result is byte for byte the full plan's.
 * Undefined when only the full plan can tell (too many keys, a key on two
 * lines, a line not canonical).
 */
export function planReconcileEdit(
  content: Buffer,
  keys: ReadonlySet<string>,
  fold: { get(key: string): RmtabEntry | undefined },
  managed: ReadonlySet<string>,
  index: ExportIndex,
): ReconcileEdit | undefined {
  if (keys.size > EDIT_MAX_KEYS) return undefined;
  const found: { at: number; line: Buffer; entry: RmtabEntry }[] = [];
  const subFold = new Map<string, RmtabEntry>();
  for (const key of keys) {
    const nl = key.indexOf("\n");
    const client = key.slice(0, nl);
    const path = key.slice(nl + 1);
    const ev = fold.get(key);
    if (ev) subFold.set(key, ev);
    const at = lineStarts(content, { client, path });
    if (at.length > 1) return undefined;
    if (at.length === 0) continue;
    const end = content.indexOf(0x0a, at[0]!);
    const line = content.subarray(at[0]!, end < 0 ? content.length : end + 1);
    const parsed = parseRmtab(line);
    if (!parsed.canonical || parsed.entries.length !== 1) return undefined;
    found.push({ at: at[0]!, line, entry: parsed.entries[0]! });
  }
  found.sort((a, b) => a.at - b.at);
  const plan = planReconcile({ current: found.map((f) => f.entry), fold: subFold.values(), managed, index, addOnly: false });
  const next = new Map(plan.entries.map((e) => [entryKey(e.client, e.path), e] as const));
  const parts: Buffer[] = [];
  let pos = 0;
  for (const f of found) {
    parts.push(content.subarray(pos, f.at));
    pos = f.at + f.line.length;
    const e = next.get(entryKey(f.entry.client, f.entry.path));
    if (e) parts.push(e.count === f.entry.count ? f.line : Buffer.from(formatLine(e), "utf8"));
  }
  parts.push(content.subarray(pos));
  // new lines follow the existing ones, sorted (planReconcile's order)
  const fresh = plan.entries.slice(plan.entries.length - plan.added.length);
  parts.push(Buffer.from(fresh.map(formatLine).join(""), "utf8"));
  return { content: Buffer.concat(parts), plan };
}

/** Where lines for e's client and path start in `content`. */
function lineStarts(content: Buffer, e: { client: string; path: string }): number[] {
  const line = formatLine({ client: e.client, path: e.path, count: 1 });
  const head = Buffer.from(`\n${line.slice(0, line.length - 11)}`, "utf8");
  const out: number[] = [];
  if (content.subarray(0, head.length - 1).equals(head.subarray(1))) out.push(0);
  for (let at = content.indexOf(head); at >= 0; at = content.indexOf(head, at + 1)) out.push(at + 1);
  return out;
}
