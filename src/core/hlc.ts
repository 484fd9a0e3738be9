// Hybrid logical clock. An event's stamp is never lower than any stamp its
// node has seen, yet stays close to wall-clock time. Pure: the caller passes
// the physical time in.

export interface Hlc {
  /** Milliseconds since the epoch (physical part). */
  readonly wall: number;
  /** Counter that orders stamps within one millisecond. */
  readonly logical: number;
}

export const HLC_ZERO: Hlc = { wall: 0, logical: 0 };

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall - b.wall || a.logical - b.logical;
}

export function maxHlc(a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b;
}

/** The next stamp after `seen` (the highest stamp known) at physical time `nowMs`. */
export function tick(seen: Hlc, nowMs: number): Hlc {
  if (nowMs > seen.wall) return { wall: nowMs, logical: 0 };
  return { wall: seen.wall, logical: seen.logical + 1 };
}

/** A stamp for JSON: an ISO 8601 `time` (UTC) and the integer `logical` counter, separately. */
export function hlcJson(h: Hlc): { time: string; logical: number } {
  return { time: new Date(h.wall).toISOString(), logical: h.logical };
}

/** A stamp for people: ISO 8601 (UTC), then `+<logical>` when the counter is not 0. parseTime reads it back. */
export function formatHlc(h: Hlc): string {
  return `${new Date(h.wall).toISOString()}${h.logical ? `+${h.logical}` : ""}`;
}
