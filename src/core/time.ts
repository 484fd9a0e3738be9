// Time arguments for --since/--until/--at. Pure: "now" is passed in.

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Parses ISO 8601, "@<epoch seconds>", "now", or a duration ago like "90m", "2h", "7d". */
export function parseTime(s: string, nowMs: number): number | string {
  const t = s.trim();
  if (t === "now") return nowMs;
  let m = /^@(\d+(?:\.\d+)?)$/.exec(t);
  if (m) return Math.round(Number(m[1]) * 1000);
  m = /^(\d+(?:\.\d+)?)\s*([smhdw])(?:\s*ago)?$/.exec(t);
  if (m) return nowMs - Number(m[1]) * UNITS[m[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    const ms = Date.parse(t);
    if (!Number.isNaN(ms)) return ms;
  }
  return `expected an ISO 8601 time (2026-11-25T10:00:00Z), @EPOCH, "now" or a duration ago (90m, 2h, 7d), found "${s}"`;
}

/** Parses a duration like "30d", "12h", "90m", "45s" into ms. */
export function parseDuration(s: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(s.trim());
  if (!m) return `expected a duration like 45s, 90m, 12h, 30d or 2w, found "${s}"`;
  return Number(m[1]) * UNITS[m[2]!]!;
}
