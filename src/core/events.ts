// Journal events and the fold that turns them into the cluster-wide mount
// table. Pure.
import { compareHlc, tick, type Hlc } from "./hlc.js";
import { entryKey, type RmtabEntry } from "./rmtab.js";

export type Op = "mount" | "umount" | "count" | "forget";
export const OPS: readonly Op[] = ["mount", "umount", "count", "forget"];

/** What a node observed: the new absolute count of client+path (0 for umount). */
export interface Change {
  readonly op: Op;
  readonly client: string;
  readonly path: string;
  readonly count: number;
}

export interface JournalEvent extends Change, Hlc {
  /** Journal identity (file) the event was read from. */
  readonly journal: string;
  readonly seq: number;
  /** Node that recorded the event (origin). */
  readonly node: string;
  readonly hash: string;
}

/** What the order of events looks at. */
export type Ordered = Pick<JournalEvent, "wall" | "logical" | "node" | "count">;

/**
 * Total order of events for last-writer-wins: timestamp, then node name,
 * then the higher count (so a tie never loses a mount).
 */
export function compareEvents(a: Ordered, b: Ordered): number {
  return compareHlc(a, b) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.count - b.count;
}

export interface FoldOptions {
  /** Ignore events with wall time after this (ms since epoch). */
  readonly until?: number;
}

/** The winning event for every client+path seen, umounts included. */
export type Fold = Map<string, JournalEvent>;

export function foldEvents(events: Iterable<JournalEvent>, opts: FoldOptions = {}, into: Fold = new Map()): Fold {
  for (const e of events) {
    if (opts.until !== undefined && e.wall > opts.until) continue;
    const key = entryKey(e.client, e.path);
    const cur = into.get(key);
    if (cur === undefined || compareEvents(e, cur) > 0) into.set(key, e);
  }
  return into;
}

/** Mounted entries of a fold (count > 0). */
export function* mounted(fold: Fold): Iterable<JournalEvent> {
  for (const e of fold.values()) if (e.count > 0) yield e;
}

export function toEntry(e: Change): RmtabEntry {
  return { client: e.client, path: e.path, count: e.count };
}

/**
 * What a dry run would append: the planned changes stamped past `seen` the
 * way the journal stamps them. Fields are picked one by one, so a stamp that
 * is itself an event (maxHlc returns one of its arguments) never leaks its
 * client or path into the preview.
 */
export function previewEvents(changes: readonly Change[], node: string, seen: Hlc, nowMs: number): JournalEvent[] {
  let clock: Hlc = { wall: seen.wall, logical: seen.logical };
  return changes.map((c, i) => {
    clock = tick(clock, nowMs);
    return { op: c.op, client: c.client, path: c.path, count: c.count, wall: clock.wall, logical: clock.logical, node, journal: "(dry-run)", seq: i + 1, hash: "" };
  });
}
