// Time arguments for --since/--until/--at. Pure: "now" is passed in.

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

const EXPECTED = `expected an ISO 8601 time with an offset (2026-11-25T10:00:00Z, 2026-11-25T11:00:00+01:00), a date (2026-11-25, midnight UTC), @EPOCH, "now" or a duration ago (90m, 2h, 7d)`;

// date, optional time, optional offset, and the `+<logical>` that rmtabsync prints after a Z
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:(Z)(?:\+(\d+))?|([+-])(\d{2})(?::?(\d{2}))?)?)?$/i;

/**
 * Parses ISO 8601, "@<epoch seconds>", "now", or a duration ago like "90m",
 * "2h", "7d". A time of day needs its UTC offset (or Z): output is UTC, and
 * the local zone of whoever reads the output is not known. A date alone is
 * midnight UTC. The form rmtabsync prints (`...Z+3`, a logical counter after
 * the Z) is read back as its wall time. Dates that do not exist are refused.
 */
export function parseTime(s: string, nowMs: number): number | string {
  const t = s.trim();
  if (t === "now") return nowMs;
  let m = /^@(\d+(?:\.\d+)?)$/.exec(t);
  if (m) return Math.round(Number(m[1]) * 1000);
  m = /^(\d+(?:\.\d+)?)\s*([smhdw])(?:\s*ago)?$/.exec(t);
  if (m) return nowMs - Number(m[1]) * UNITS[m[2]!]!;
  if (!/^\d{4}-\d{2}-\d{2}/.test(t)) return `${EXPECTED}, found "${s}"`;
  m = ISO_RE.exec(t);
  if (!m) return `${EXPECTED}, found "${s}"`;
  const [, y, mo, d, hh, mi, ss, frac, z, , sign, oh, om] = m;
  const num = (v: string | undefined) => (v === undefined ? 0 : Number(v));
  const year = num(y);
  const month = num(mo);
  const day = num(d);
  const date = new Date(Date.UTC(year, month - 1, day));
  date.setUTCFullYear(year);
  if (month < 1 || month > 12 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return `"${s}" is not a date: ${y}-${mo} has no day ${d}`;
  if (hh !== undefined && z === undefined && sign === undefined)
    return `"${s}" has no UTC offset: add Z for UTC or the offset, e.g. ${t}Z or ${t}+01:00 (output is in UTC)`;
  if (num(hh) > 23 || num(mi) > 59 || num(ss) > 59) return `"${s}" is not a time of day: expected 00:00:00 to 23:59:59`;
  if (num(oh) > 23 || num(om) > 59) return `"${s}" has no valid UTC offset: expected +HH:MM from -23:59 to +23:59`;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const offsetMs = (sign === "-" ? -1 : 1) * (num(oh) * 60 + num(om)) * 60e3;
  return date.getTime() + ((num(hh) * 60 + num(mi)) * 60 + num(ss)) * 1000 + ms - offsetMs;
}

/** The error for a --since later than --until, naming both as given and as read; undefined when the range is fine. */
export function checkRange(since: { flag: string; text: string; ms: number } | undefined, until: { flag: string; text: string; ms: number } | undefined): string | undefined {
  if (since === undefined || until === undefined || since.ms <= until.ms) return undefined;
  const iso = (ms: number) => new Date(ms).toISOString();
  return `${since.flag} ${since.text} (${iso(since.ms)}) is after ${until.flag} ${until.text} (${iso(until.ms)}): the range is inverted, nothing can match (durations count back from now: ${since.flag} 2h ${until.flag} 1m)`;
}

/** Parses a duration like "30d", "12h", "90m", "45s" into ms. */
export function parseDuration(s: string): number | string {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(s.trim());
  if (!m) return `expected a duration like 45s, 90m, 12h, 30d or 2w, found "${s}"`;
  return Number(m[1]) * UNITS[m[2]!]!;
}
