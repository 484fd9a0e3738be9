// The latest-event table of a journal (schema v2): for every client+path
// the journal holds events of, the sequence number of its winning event
// there (compareEvents). A cold reader folds these rows instead of the whole
// history; verify recomputes the table from the events. Pure.
import { compareEvents, type Ordered } from "./events.js";
import { entryKey } from "./rmtab.js";

/** The fields of an event the table is computed from. */
export interface KeyedEvent extends Ordered {
  readonly seq: number;
  readonly client: string;
  readonly path: string;
}

/** One row of the table as stored: SQLite gives back whatever a writer put there. */
export interface LatestRow {
  readonly client: unknown;
  readonly path: unknown;
  readonly seq: unknown;
}

/** The winning event of each client+path among `events` (what the table must hold). */
export function latestOf<E extends KeyedEvent>(events: Iterable<E>): Map<string, E> {
  const out = new Map<string, E>();
  for (const e of events) {
    const k = entryKey(e.client, e.path);
    const cur = out.get(k);
    if (cur === undefined || compareEvents(e, cur) > 0) out.set(k, e);
  }
  return out;
}

export interface LatestTableProblem {
  readonly kind: "missing" | "extra" | "wrong" | "duplicate";
  /** The event the row names (extra, wrong, duplicate) or should name (missing). */
  readonly seq: number | undefined;
  readonly problem: string;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v) : String(v));
const seqOf = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);

/**
 * Every difference between the table as stored and the table recomputed
 * from the journal's events: a key whose row is missing, a row for a key no
 * event has (extra), a row naming another event than the winner (wrong), a
 * key with two rows (duplicate).
 */
export function latestTableProblems(events: Iterable<KeyedEvent>, rows: readonly LatestRow[]): LatestTableProblem[] {
  const want = latestOf(events);
  const problems: LatestTableProblem[] = [];
  const seen = new Set<string>();
  for (const r of rows) {
    const key = typeof r.client === "string" && typeof r.path === "string" ? entryKey(r.client, r.path) : undefined;
    const what = `the row for client ${show(r.client)} path ${show(r.path)}`;
    if (key !== undefined && seen.has(key)) {
      problems.push({ kind: "duplicate", seq: seqOf(r.seq), problem: `latest-event table: ${what} is there twice` });
      continue;
    }
    if (key !== undefined) seen.add(key);
    const w = key === undefined ? undefined : want.get(key);
    if (w === undefined) problems.push({ kind: "extra", seq: seqOf(r.seq), problem: `latest-event table: ${what} (event ${show(r.seq)}) has no event in the journal` });
    else if (r.seq !== w.seq)
      problems.push({ kind: "wrong", seq: seqOf(r.seq), problem: `latest-event table: ${what} names event ${show(r.seq)}, but the winning event is ${w.seq}` });
  }
  for (const [k, w] of want)
    if (!seen.has(k)) problems.push({ kind: "missing", seq: w.seq, problem: `latest-event table: no row for client ${show(w.client)} path ${show(w.path)} (its winning event is ${w.seq})` });
  return problems;
}
