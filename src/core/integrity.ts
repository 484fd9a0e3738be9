// Integrity of journals: the hash chain of each journal, and whether a
// journal went backwards or forked relative to what a node saw of it (the
// mark of a DRBD split-brain or a restored backup). Pure.
import { hash } from "node:crypto";

/** The fields of an event that its hash covers. */
export interface HashedFields {
  readonly seq: number;
  readonly wall: number;
  readonly logical: number;
  readonly node: string;
  readonly op: string;
  readonly client: string;
  readonly path: string;
  readonly count: number;
  readonly origin_journal: string;
  readonly origin_seq: number;
}

export function eventHash(prevHash: string, e: HashedFields): string {
  // one-shot hash: half the time of a Hash object per event (a cold fold hashes every event)
  return hash("sha256", JSON.stringify([prevHash, e.seq, e.wall, e.logical, e.node, e.op, e.client, e.path, e.count, e.origin_journal, e.origin_seq]), "hex");
}

export interface ChainRow extends HashedFields {
  readonly origin_hash: string;
  readonly prev_hash: string;
  readonly hash: string;
}

/** An event compaction removed: its hash and identity stay. */
export interface PrunedRow {
  readonly seq: number;
  readonly hash: string;
  /** Wall time of the event that was compacted away (when read). */
  readonly wall?: number;
  readonly origin_journal: string;
  readonly origin_seq: number;
  readonly origin_hash: string;
}

export interface ChainProblem {
  readonly seq: number;
  readonly problem: string;
}

/** Checks sequence numbers and the hash chain of one journal. Genesis hash = journal id. */
export function checkChain(journalId: string, rows: readonly ChainRow[], pruned: readonly PrunedRow[]): ChainProblem[] {
  const problems: ChainProblem[] = [];
  const prunedBySeq = new Map(pruned.map((p) => [p.seq, p]));
  let prevSeq = 0;
  let prevHash = journalId;
  const ordered = [...rows].sort((a, b) => a.seq - b.seq);
  for (const r of ordered) {
    // walk over compacted events: their hashes keep the chain continuous
    for (let s = prevSeq + 1; s < r.seq; s++) {
      const p = prunedBySeq.get(s);
      if (!p) {
        problems.push({ seq: s, problem: `event ${s} is missing (sequence gap between ${prevSeq} and ${r.seq}, not compacted)` });
        prevHash = "";
        break;
      }
      prevHash = p.hash;
    }
    if (prevHash !== "" && r.prev_hash !== prevHash)
      problems.push({ seq: r.seq, problem: `event ${r.seq} does not chain to event ${r.seq - 1} (prev_hash ${short(r.prev_hash)}, expected ${short(prevHash)})` });
    const h = eventHash(r.prev_hash, r);
    if (h !== r.hash) problems.push({ seq: r.seq, problem: `event ${r.seq} was altered (hash ${short(r.hash)}, content hashes to ${short(h)})` });
    if (r.origin_journal === journalId && (r.origin_seq !== r.seq || r.origin_hash !== r.hash))
      problems.push({ seq: r.seq, problem: `event ${r.seq} claims to originate here but its origin fields disagree` });
    prevSeq = r.seq;
    prevHash = r.hash;
  }
  return problems;
}

export function short(h: string): string {
  return h.length > 12 ? h.slice(0, 12) : h;
}

/** What a node remembers of a journal: its newest event when last seen. */
export interface Mark {
  readonly journalId: string;
  readonly node: string;
  readonly seq: number;
  readonly hash: string;
}

export interface JournalView {
  readonly file: string;
  readonly journalId: string;
  readonly node: string;
  /** Local seq -> hash, events and compacted events alike. */
  readonly hashes: ReadonlyMap<number, string>;
  readonly lastSeq: number;
  /** "originJournal/originSeq" -> origin hash, for events imported from elsewhere. */
  readonly origins: ReadonlyMap<string, string>;
}

export type MarkKind = "rolled-back" | "forked" | "gone";

export interface MarkProblem {
  readonly kind: MarkKind;
  readonly journalId: string;
  readonly node: string;
  readonly file: string | undefined;
  readonly seq: number;
  readonly problem: string;
}

export function originKey(journalId: string, seq: number): string {
  return `${journalId}/${seq}`;
}

/**
 * Checks marks (what `who` saw) against the journals now on the volume. A
 * mark is satisfied when its event is still in its journal, or was carried
 * into another journal by `recover` (same origin id, seq and hash).
 */
export function checkMarks(marks: readonly Mark[], views: readonly JournalView[], who: string): MarkProblem[] {
  const byId = new Map(views.map((v) => [v.journalId, v]));
  const problems: MarkProblem[] = [];
  for (const m of marks) {
    const v = byId.get(m.journalId);
    if (v?.hashes.get(m.seq) === m.hash) continue;
    if (views.some((w) => w.origins.get(originKey(m.journalId, m.seq)) === m.hash)) continue;
    const base = { journalId: m.journalId, node: m.node, file: v?.file, seq: m.seq };
    if (!v) {
      problems.push({
        ...base,
        kind: "gone",
        problem: `journal ${m.journalId} of node ${m.node} is gone: ${who} saw it up to event ${m.seq}; the journal was replaced by an older copy or re-initialised`,
      });
    } else if (v.lastSeq < m.seq) {
      problems.push({
        ...base,
        kind: "rolled-back",
        problem: `rolled back: ${who} saw event ${m.seq} (${short(m.hash)}), the journal now ends at event ${v.lastSeq} (DRBD split-brain or restored backup? run 'rmtabsync recover --from <other copy>')`,
      });
    } else {
      problems.push({
        ...base,
        kind: "forked",
        problem: `forked: ${who} saw event ${m.seq} as ${short(m.hash)}, the journal now has ${short(v.hashes.get(m.seq) ?? "nothing")} there (DRBD split-brain? run 'rmtabsync recover --from <other copy>')`,
      });
    }
  }
  return problems;
}
