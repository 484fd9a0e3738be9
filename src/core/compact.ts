// Which events of a node's own journal compaction may drop. Pure.
import { compareEvents, type JournalEvent } from "./events.js";
import { entryKey } from "./rmtab.js";

export interface CompactInput {
  /** Events of the journal being compacted. */
  readonly own: readonly JournalEvent[];
  /** Events of every other readable journal. */
  readonly others: readonly JournalEvent[];
  /** Only events older than this (wall ms) may go. */
  readonly cutoff: number;
  /** The journal's newest event stays: it is what the peers' marks point at. */
  readonly tipSeq: number;
}

/**
 * An event older than the cutoff may go when a newer event for the same
 * client and path (in any journal) supersedes it. An umount never goes while
 * an older mount of the same client and path survives in any journal: that
 * mount would come back. Once none survives, the umount goes too, even the
 * entry's newest event: with neither the mount nor its umount the fold has
 * no entry, as with the umount. The journal's newest event (its tip) stays.
 */
export function planCompaction(input: CompactInput): number[] {
  const byKey = new Map<string, { own: JournalEvent[]; others: JournalEvent[] }>();
  const group = (e: JournalEvent) => {
    const k = entryKey(e.client, e.path);
    let g = byKey.get(k);
    if (!g) byKey.set(k, (g = { own: [], others: [] }));
    return g;
  };
  for (const e of input.own) group(e).own.push(e);
  for (const e of input.others) group(e).others.push(e);
  const drop: number[] = [];
  for (const g of byKey.values()) {
    const all = [...g.own, ...g.others].sort(compareEvents);
    const newest = all[all.length - 1]!;
    const dropped = new Set<JournalEvent>();
    // superseded mounts and count changes first
    for (const e of g.own) {
      if (e === newest || e.seq === input.tipSeq || e.wall >= input.cutoff || e.count === 0) continue;
      dropped.add(e);
    }
    // umounts (and forgets), the newest one too: once no older mount of the
    // entry survives anywhere, the fold without the umount is the fold with
    // it (no entry), so the umounts of clients that are gone retire
    for (const e of g.own) {
      if (e.seq === input.tipSeq || e.wall >= input.cutoff || e.count !== 0) continue;
      const olderMountSurvives = all.some((o) => o.count > 0 && compareEvents(o, e) < 0 && !dropped.has(o));
      if (!olderMountSurvives) dropped.add(e);
    }
    for (const e of dropped) drop.push(e.seq);
  }
  return drop.sort((a, b) => a - b);
}
