// What a journal row must be before it is folded or shown. A peer's journal
// is input, not truth: a node that is broken or hostile can write any value
// SQLite accepts into any column, with a valid hash chain. Pure.
import { OPS, type Op } from "./events.js";
import { clientProblem, entryProblem, MAX_COUNT, pathProblem } from "./rmtab.js";

/** The largest time a JavaScript Date can hold (ms). */
export const MAX_WALL_MS = 8.64e15;

export interface RowRules {
  /** The node every event of this journal must carry (its file's node). */
  readonly node: string;
}

/** A raw events row as SQLite returns it: any column may hold any type. */
export type RawRow = Readonly<Record<string, unknown>>;

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `a blob of ${v.length} bytes`;
  return String(v);
}

const isNat = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;

/** Why an events row cannot be used, or undefined. Cheap checks first. */
export function rowProblem(r: RawRow, rules: RowRules): string | undefined {
  if (!isNat(r.seq, 1)) return `sequence number ${show(r.seq)} is not a positive integer`;
  if (!isNat(r.wall, 0, MAX_WALL_MS)) return `time ${show(r.wall)} is not a time (ms since 1970)`;
  if (!isNat(r.logical)) return `logical clock ${show(r.logical)} is not a non-negative integer`;
  if (r.node !== rules.node) return `claims to be recorded by node ${show(r.node)}, in the journal of node "${rules.node}"`;
  if (typeof r.op !== "string" || !OPS.includes(r.op as Op)) return `operation ${show(r.op)} is unknown`;
  if (typeof r.client !== "string") return `client ${show(r.client)} is not text`;
  if (typeof r.path !== "string") return `path ${show(r.path)} is not text`;
  const field = clientProblem(r.client) ?? pathProblem(r.path);
  if (field) return `${field}: client ${show(r.client)}, path ${show(r.path)}`;
  if (!isNat(r.count, 0, MAX_COUNT)) return `count ${show(r.count)} is outside 0..${MAX_COUNT}`;
  const gone = r.op === "umount" || r.op === "forget";
  if (gone !== (r.count === 0)) return `count ${r.count} does not fit operation ${r.op}`;
  if (!gone) {
    const e = entryProblem({ client: r.client, path: r.path, count: r.count });
    if (e) return e;
  }
  if (typeof r.hash !== "string" || !/^[0-9a-f]{64}$/.test(r.hash)) return `hash ${show(r.hash)} is not a SHA-256 hex digest`;
  return undefined;
}

/**
 * Why a sound event is held back: it is stamped later than `futureAfterMs`
 * (this node's clock plus the skew it accepts). A hybrid logical clock that
 * took such a stamp would be pinned to it for ever.
 */
export function futureProblem(wall: number, futureAfterMs: number | undefined): string | undefined {
  if (futureAfterMs === undefined || wall <= futureAfterMs) return undefined;
  return `stamped ${new Date(wall).toISOString()}, ${describeAhead(wall - futureAfterMs)} beyond the clock skew this node accepts (a clock is wrong); held back until then`;
}

function describeAhead(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}
