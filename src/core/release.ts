// The lines of exports served elsewhere leave this node's rmtab: showmount -a
// must not list clients of an export another node serves. Pure.
import type { ExportIndex } from "./exports.js";
import type { LineChange } from "./plan.js";
import { parseRmtab } from "./rmtab.js";

export interface ReleasePlan {
  /** rmtab without the released exports' lines; every other line byte for byte as it was. */
  readonly content: Buffer;
  readonly removed: LineChange[];
}

/**
 * Drops the well-formed lines whose path belongs to one of `released`
 * (export names). Every other line, malformed ones included, stays exactly
 * as it is: reconcile is the one that quarantines.
 */
export function planRelease(content: Buffer, index: ExportIndex, released: ReadonlySet<string>): ReleasePlan {
  const kept: Buffer[] = [];
  const removed: LineChange[] = [];
  let start = 0;
  while (start < content.length) {
    const nl = content.indexOf(0x0a, start);
    const end = nl < 0 ? content.length : nl + 1;
    const raw = content.subarray(start, end);
    start = end;
    const parsed = parseRmtab(raw);
    const e = parsed.malformed.length === 0 && parsed.entries.length === 1 ? parsed.entries[0]! : undefined;
    const exp = e ? index.exportOf(e.path) : undefined;
    if (e && exp && released.has(exp.name)) removed.push({ client: e.client, path: e.path, export: exp.name, from: e.count, to: 0 });
    else kept.push(raw);
  }
  return { content: Buffer.concat(kept), removed };
}
