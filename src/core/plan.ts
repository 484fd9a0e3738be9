// The two planners at the heart of rmtabsync. Pure: they take what was read
// (rmtab, baseline, etab, the folded journals) and return what to do.
import { isAscii } from "node:buffer";
import type { Change } from "./events.js";
import type { ExportDef, ExportIndex } from "./exports.js";
import { EntryIndex } from "./entry-index.js";
import { LineList, type ListPart } from "./line-list.js";
import { changedRegion, entryKey, entryProblem, formatLine, MAX_LINE_BYTES, parseRmtab, serializeRmtabBytes, type RmtabEntry } from "./rmtab.js";

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
  const reason = (kind: NotRecorded, name: string): string => {
    const k = `${kind}\n${name}`;
    let r = reasons.get(k);
    if (r === undefined) reasons.set(k, (r = notRecordedReason(kind, name)));
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
    const why = notRecorded(exp.name, input.hosted, input.hostedBefore);
    // of an export taken over, only what grew is news
    if (why === "foreign" || (why === "taken" && curCount <= maxBefore)) {
      ignored.push({ client: sample.client, path: sample.path, export: exp.name, reason: reason(why, exp.name) });
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

/**
 * What a record plans for an rmtab that lost the lines of `lost` (baseline
 * lines) and gained none: after a wipe, an UMNTALL, or the emptied rmtab of
 * a takeover. When no export would journal a lost line (each is not
 * exported here, or was taken over since the last record: a takeover),
 * nothing is read now: the lines not recorded are classified only when
 * listed (--json), and text output says how many lines rmtab lost and why
 * none is journaled instead of naming them.
 */
export function planLost(lost: Buffer, hosted: ReadonlySet<string>, hostedBefore: ReadonlySet<string> | undefined, index: ExportIndex): { changes: Change[]; ignored: LineList<Ignored> } {
  const classify = () => {
    const plan = planVanished(lost, hosted, hostedBefore, index) ?? planRecord({ current: [], baselines: [toCountMap(parseRmtab(lost).entries)], hosted, hostedBefore, index });
    return { changes: plan.changes, ignored: plan.ignored instanceof LineList ? plan.ignored : LineList.of(plan.ignored) };
  };
  const why = new Map(index.exports.map((e) => [e.name, notRecorded(e.name, hosted, hostedBefore)]));
  if (lost.length === 0 || [...why.values()].includes(undefined)) return classify();
  let read: LineList<Ignored> | undefined;
  const all = () => (read ??= classify().ignored);
  const names = (w: NotRecorded) => namesOf([...why].filter(([, x]) => x === w).map(([name]) => name));
  const taken = names("taken");
  const foreign = names("foreign");
  const n = countLines(lost);
  const summary =
    `rmtab lost ${n} line${n === 1 ? "" : "s"} since the last record; none is recorded as an umount: no export configured here was exported by this node both at the last record and now` +
    [...(taken ? [`${taken} taken over since (a line lost meanwhile may be an UMNTALL from before)`] : []), ...(foreign ? [`${foreign} not exported by this node (etab)`] : [])].map((x) => `; ${x}`).join("") +
    "; reconcile restores what the journals hold (--json lists every line not recorded)";
  return {
    changes: [],
    ignored: new LineList([
      {
        get length() {
          return all().length;
        },
        get byExport() {
          return all().byExport();
        },
        items: () => all(),
        summary,
      },
    ]),
  };
}

/** Export names for a message: the first few, then how many more. */
function namesOf(names: readonly string[]): string {
  const SHOWN = 8;
  if (names.length === 0) return "";
  const head = names.slice(0, SHOWN).join(", ");
  return names.length > SHOWN ? `${head} and ${names.length - SHOWN} more` : head;
}

/** The lines of `b` (its newlines). */
export function countLines(b: Buffer): number {
  let n = 0;
  for (let at = b.indexOf(0x0a); at >= 0; at = b.indexOf(0x0a, at + 1)) n++;
  return n;
}

/**
 * planRecord for an rmtab that lost the lines of `vanished` (canonical
 * baseline lines) and gained none: after a wipe, an UMNTALL, or the
 * emptied rmtab of a takeover. The same plan, read without an object per
 * line: the lines not recorded are read again only when listed. Undefined
 * when a line is not as formatLine writes a plain entry (parseRmtab's
 * checks in one pass over the text); a baseline that repeats a line (not
 * canonical: never one record or reconcile wrote) gets each umount once,
 * and lists the repeated line among those not recorded as often as it
 * stands.
 */
export function planVanished(vanished: Buffer, hosted: ReadonlySet<string>, hostedBefore: ReadonlySet<string> | undefined, index: ExportIndex): { changes: Change[]; ignored: LineList<Ignored> } | undefined {
  // (a path outside ASCII goes the usual way: one decoding of the whole file, as parseRmtab reads it)
  if (!isAscii(vanished)) return undefined;
  const changes: Change[] = [];
  // what becomes of a line, by export: -1 journaled (an umount), else the index of its reason not to be
  const reasons: string[] = [];
  const names: string[] = [];
  const fate = new Map<ExportDef, number>();
  const fateOf = (exp: ExportDef): number => {
    let f = fate.get(exp);
    if (f !== undefined) return f;
    // a vanished line did not grow: an export taken over does not journal it
    const why = notRecorded(exp.name, hosted, hostedBefore);
    f = why === undefined ? -1 : reasons.push(notRecordedReason(why, exp.name)) - 1;
    if (f >= 0) names[f] = exp.name;
    fate.set(exp, f);
    return f;
  };
  // and by path (-2: under no export), one lookup a line
  const byPath = new Map<string, number>();
  // the lines not recorded: where each starts, and its reason
  const starts: number[] = [];
  const why: number[] = [];
  const perReason: number[] = [];
  // ASCII: one byte per character, and sliced strings cost no copy
  const text = vanished.toString("latin1");
  if (NOT_A_LINE.test(text) || DOT_COMPONENT.test(text)) return undefined;
  const umounted = new Set<string>();
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf("\n", at);
    const hostEnd = text.indexOf(":", at);
    const countAt = end - 11;
    if (end - at >= MAX_LINE_BYTES) return undefined;
    // a count of 0 is no line: unchanged
    if (!text.startsWith(":0x00000000", countAt)) {
      const path = text.slice(hostEnd + 1, countAt);
      let f = byPath.get(path);
      if (f === undefined) {
        const exp = index.exportOf(path);
        f = exp ? fateOf(exp) : -2;
        byPath.set(path, f);
      }
      if (f === -1) {
        const client = text.slice(at, hostEnd).replaceAll(";", ":");
        const key = entryKey(client, path);
        if (!umounted.has(key)) changes.push({ op: "umount", client, path, count: 0 });
        umounted.add(key);
      }
      else if (f >= 0) {
        starts.push(at);
        why.push(f);
        perReason[f] = (perReason[f] ?? 0) + 1;
      }
    }
    at = end + 1;
  }
  changes.sort((a, b) => cmp(a.path, b.path) || cmp(a.client, b.client));
  const byExport = new Map<string, number>();
  perReason.forEach((n, f) => byExport.set(names[f]!, (byExport.get(names[f]!) ?? 0) + n));
  function* items(): Generator<Ignored> {
    for (let i = 0; i < starts.length; i++) {
      const at = starts[i]!;
      const line = fieldsAt(text, at);
      const f = why[i]!;
      yield { client: text.slice(at, line.hostEnd).replaceAll(";", ":"), path: text.slice(line.hostEnd + 1, line.countAt), export: names[f]!, reason: reasons[f]! };
    }
  }
  return { changes, ignored: new LineList(starts.length === 0 ? [] : [{ length: starts.length, byExport, items }]) };
}

/**
 * Where a line starts that is not as formatLine writes a plain entry
 * (rmtab.ts: a client of printable ASCII without white space, ":" written
 * as ";"; an absolute path of printable ASCII without ":"; each within
 * 1024 bytes; a count of at most 0x7fffffff), or the text lacks its last
 * newline. A count of 0 passes: such a line is no entry, as parseRmtab
 * drops it.
 */
const NOT_A_LINE = /(?:^|\n)(?![!-9;-~]{1,1024}:\/[ -9;-~]{0,1023}:0x[0-7][0-9a-f]{7}\n)(?!$)/;
/** A "." or ".." path component (or a client with "/." in it: then the text goes the usual way). */
const DOT_COMPONENT = /\/\.\.?[/:]/;

/** Where the host and the path of the line at `at` end (a line as formatLine writes it: NOT_A_LINE or linesProblem let it through). */
function fieldsAt(t: string, at: number): { hostEnd: number; countAt: number } {
  return { hostEnd: t.indexOf(":", at), countAt: t.indexOf("\n", at) - 11 };
}

/** Why a record does not journal a changed line of an export. */
type NotRecorded = "foreign" | "taken";

/**
 * "foreign": not exported here (etab, `--hosting`) and not exported when the
 * baseline was taken either. One exported then but not now is leaving:
 * exportfs -u ran since (the agent's stop, before its `record --hosting`),
 * and mountd made its changes while it still served it (it refuses MNT and
 * UMNT of what it does not export), so they are journaled as the agent's
 * record would have journaled them. "taken": taken over since the baseline
 * was taken, so a line that shrank or vanished meanwhile may be an UMNTALL
 * from before; only growth is news. Undefined: journaled.
 */
function notRecorded(name: string, hosted: ReadonlySet<string>, hostedBefore: ReadonlySet<string> | undefined): NotRecorded | undefined {
  if (!hosted.has(name) && hostedBefore?.has(name) !== true) return "foreign";
  if (hostedBefore !== undefined && !hostedBefore.has(name)) return "taken";
  return undefined;
}

function notRecordedReason(why: NotRecorded, name: string): string {
  return why === "foreign"
    ? `export ${name} is not exported by this node (etab)`
    : `export ${name} was taken over since the last record: a line that shrank or vanished meanwhile may be an UMNTALL from before`;
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

/**
 * The lines of one export in the fold, joined, in the plan's order for new
 * lines (client, then path, by code point): what a takeover adds whole.
 */
export interface ExportImage {
  readonly text: string;
  readonly lines: number;
  /** Its mounted entries that have no line (entryProblem says why). */
  readonly unwritable: readonly RmtabEntry[];
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
   * store reads them from its file as they are taken). As a function: the
   * entries of the exports named (the planner asks only for those it needs).
   */
  readonly fold: Iterable<RmtabEntry> | ((exports: ReadonlySet<string>) => Iterable<RmtabEntry>);
  /**
   * The fold's lines of a whole export, for the exports rmtab holds no line
   * of (a takeover): joined as they are, without an object per line.
   * Without it, those lines are planned one by one like any other.
   */
  readonly image?: (exportName: string) => ExportImage;
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
  /** The lines to write, in order, but those of `images`. */
  readonly entries: RmtabEntry[];
  /** Whole exports' lines (ReconcileInput.image), each written just before entries[at]. */
  readonly images: readonly { readonly export: string; readonly at: number; readonly image: ExportImage }[];
  /** How many lines to write in all. */
  readonly lines: number;
  /** New lines, but those of `images`. */
  readonly added: LineChange[];
  readonly removed: LineChange[];
  readonly changed: LineChange[];
  /** Removals add-only mode held back. */
  readonly heldBack: LineChange[];
  /** Journal entries that cannot be written as rmtab lines. */
  readonly unwritable: { client: string; path: string; problem: string }[];
}

/**
 * The rmtab this node should have. Existing lines keep their order; new
 * ones follow, by export (name), then client, then path.
 */
export function planReconcile(input: ReconcileInput): ReconcilePlan {
  const { index, managed, addOnly } = input;
  const current = input.current;
  const out: RmtabEntry[] = [];
  const added: LineChange[] = [];
  const removed: LineChange[] = [];
  const changed: LineChange[] = [];
  const heldBack: LineChange[] = [];
  const unwritable: ReconcilePlan["unwritable"] = [];
  const at = input.currentIndex ?? EntryIndex.of(input.current);
  const exportOfLine: (ExportDef | undefined)[] = new Array(current.length);
  const present = new Set<string>();
  for (let i = 0; i < current.length; i++) {
    const exp = index.exportOf(current[i]!.path);
    exportOfLine[i] = exp;
    if (exp) present.add(exp.name);
  }
  // exports rmtab holds no line of: all they have is new, so it comes whole (a takeover)
  const whole = new Map<string, ExportImage>();
  const planned = new Set<string>();
  for (const name of [...managed].sort(cmp)) {
    if (input.frozen?.has(name) || !index.named(name)) continue;
    if (input.image && !present.has(name)) whole.set(name, input.image(name));
    else planned.add(name);
  }
  // the folded count of each line of rmtab (0: none); the fold's other entries are new lines
  const folded = new Float64Array(current.length);
  for (const ev of typeof input.fold === "function" ? input.fold(planned) : input.fold) {
    if (ev.count <= 0) continue;
    const i = at.size === 0 ? undefined : at.get(ev.client, ev.path);
    if (i !== undefined) {
      folded[i] = ev.count;
      continue;
    }
    const exp = index.exportOf(ev.path);
    if (!exp || !planned.has(exp.name)) continue;
    const problem = entryProblem(ev);
    if (problem) {
      unwritable.push({ client: ev.client, path: ev.path, problem });
      continue;
    }
    added.push({ client: ev.client, path: ev.path, export: exp.name, from: 0, to: ev.count });
  }

  for (let i = 0; i < current.length; i++) {
    const e = current[i]!;
    const exp = exportOfLine[i];
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

  added.sort(byNewLineOrder);
  const images: { export: string; at: number; image: ExportImage }[] = [];
  let lines = out.length;
  let next = 0;
  for (const [name, image] of whole) {
    while (next < added.length && cmp(added[next]!.export!, name) < 0) out.push(lineOf(added[next++]!));
    images.push({ export: name, at: out.length, image });
    lines += image.lines;
    for (const e of image.unwritable) unwritable.push({ client: e.client, path: e.path, problem: entryProblem(e) ?? "no rmtab line" });
  }
  while (next < added.length) out.push(lineOf(added[next++]!));
  lines += added.length;
  return { entries: out, images, lines, added, removed, changed, heldBack, unwritable };
}

function lineOf(a: LineChange): RmtabEntry {
  return { client: a.client, path: a.path, count: a.to };
}

/** New lines: by export, then client, then path (the fold cache's key order, so a whole export's image is in it). */
function byNewLineOrder(a: LineChange, b: LineChange): number {
  return cmp(a.export ?? "", b.export ?? "") || cmpCodePoints(a.client, b.client) || cmpCodePoints(a.path, b.path);
}

/**
 * Strings in code point order, as SQLite's BINARY collation orders them
 * (memcmp of UTF-8): UTF-16 code units order them alike except that a
 * surrogate (U+10000 and up) sorts after U+E000..U+FFFF.
 */
export function cmpCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return rank(x) - rank(y);
  }
  return a.length - b.length;
}

function rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

/** The bytes of a plan's rmtab. */
export function serializePlan(plan: ReconcilePlan): Buffer {
  if (plan.images.length === 0) return serializeRmtabBytes(plan.entries);
  // the images (megabytes of a takeover's lines) are encoded straight into the one buffer
  const parts: (Buffer | string)[] = [];
  let from = 0;
  for (const { at, image } of plan.images) {
    if (at > from) parts.push(serializeRmtabBytes(plan.entries.slice(from, at)));
    parts.push(image.text);
    from = at;
  }
  if (from < plan.entries.length) parts.push(serializeRmtabBytes(plan.entries.slice(from)));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + (typeof p === "string" ? Buffer.byteLength(p, "utf8") : p.length), 0));
  let at = 0;
  for (const p of parts) at += typeof p === "string" ? out.write(p, at, "utf8") : p.copy(out, at);
  if (at !== out.length) throw new Error(`rmtab serialized to ${at} of ${out.length} bytes`);
  return out;
}

/**
 * The lines a reconcile adds, in the order written: those planned one by
 * one and whole exports' images, whose lines are read only when listed.
 */
export function addedLines(plan: Pick<ReconcilePlan, "added" | "images">): LineList<LineChange> {
  const parts: ListPart<LineChange>[] = [];
  const each = plan.added;
  let i = 0;
  const upTo = (name: string | undefined) => {
    const from = i;
    while (i < each.length && (name === undefined || cmp(each[i]!.export ?? "", name) < 0)) i++;
    const run = each.slice(from, i);
    if (run.length > 0) parts.push({ length: run.length, items: () => run });
  };
  for (const { export: name, image } of plan.images) {
    upTo(name);
    parts.push({ length: image.lines, byExport: new Map([[name, image.lines]]), items: () => imageLines(name, image) });
  }
  upTo(undefined);
  return new LineList(parts);
}

/** The lines of an image (canonical lines, as formatLine wrote them) as additions. */
function* imageLines(name: string, image: ExportImage): Generator<LineChange> {
  const t = image.text;
  for (let at = 0; at < t.length; ) {
    const { hostEnd, countAt } = fieldsAt(t, at);
    yield { client: t.slice(at, hostEnd).replaceAll(";", ":"), path: t.slice(hostEnd + 1, countAt), export: name, from: 0, to: parseInt(t.slice(countAt + 3, countAt + 11), 16) };
    at = countAt + 12;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** More changed lines than this and record parses the whole file (each one costs a search of it). */
const REGION_MAX_LINES = 32;

/** The lines a record has to look at, as they stand in rmtab now and in the baseline. */
export interface ChangedLines {
  readonly current: RmtabEntry[];
  /** The baseline's lines among them (parsed when first asked for: a takeover's emptied rmtab lost 100k). */
  readonly base: Map<string, RmtabEntry>;
  /** The baseline's changed region as it is: the lines that vanished when `current` is empty. */
  readonly region: Buffer;
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
  if (now.entries.length === 0 && also.length === 0) {
    let base: Map<string, RmtabEntry> | undefined;
    return {
      current: [],
      get base() {
        return (base ??= toCountMap(parseRmtab(region.base).entries));
      },
      region: region.base,
    };
  }
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
  return { current, base, region: region.base };
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
