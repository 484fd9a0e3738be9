// What rpc.mountd's ha-callout captured (deploy/mountd-callout appends one
// line per call to the spool) and how it becomes journal changes. Pure.
//
// mountd (nfs-utils 2.6.2, mountd/rmtab.c) calls the callout, while it holds
// the rmtab write lock and before it writes rmtab, as
//   PROG mount   CLIENT PATH NEWCOUNT   (MNT: count+1, or a new line with 1)
//   PROG unmount CLIENT PATH NEWCOUNT   (UMNT of a line it found: count-1, 0 = line dropped)
// UMNTALL (mountlist_del_all) calls no callout in 2.6.2; an "unmount-all"
// line (documented by some versions) is still understood.
// The callout writes: EVENT<TAB>NEWCOUNT<TAB>CLIENT<TAB>PATH<LF>. PATH comes
// last so that a tab in it survives; a newline in it cannot (mountd's own
// rmtab cannot hold one either).
import type { Change } from "./events.js";
import type { ExportIndex } from "./exports.js";
import type { CountMap, Ignored } from "./plan.js";
import { entryKey, type RmtabEntry } from "./rmtab.js";

export type SpoolOp = "mount" | "unmount" | "unmount-all";

export interface SpoolEvent {
  /** Position in the spool, for messages (file and line). */
  readonly where: string;
  readonly op: SpoolOp;
  readonly client: string;
  /** Empty for an unmount-all without a path. */
  readonly path: string;
  /** New count after the call; -1 when mountd gave none. */
  readonly count: number;
}

export interface SpoolProblem {
  readonly where: string;
  readonly text: string;
  readonly problem: string;
}

export interface ParsedSpool {
  readonly events: SpoolEvent[];
  readonly problems: SpoolProblem[];
}

const OPS: readonly string[] = ["mount", "unmount", "unmount-all"];

/** Parses spool text; `name` labels positions in messages. */
export function parseSpool(text: string, name: string): ParsedSpool {
  const events: SpoolEvent[] = [];
  const problems: SpoolProblem[] = [];
  const lines = text.split("\n");
  const last = lines.pop(); // "" when the text ends with a newline
  lines.forEach((raw, i) => {
    const where = `${name} line ${i + 1}`;
    const bad = (problem: string) => problems.push({ where, text: raw.length > 120 ? `${raw.slice(0, 120)}...` : raw, problem });
    if (raw === "") return;
    const parts = raw.split("\t");
    if (parts.length < 4) return bad("expected EVENT<TAB>COUNT<TAB>CLIENT<TAB>PATH");
    const [op, countText, rawClient] = parts as [string, string, string];
    const client = rawClient.replaceAll(";", ":"); // as rmtab stores IPv6
    const path = parts.slice(3).join("\t");
    if (!OPS.includes(op)) return bad(`unknown event "${op.slice(0, 20)}" (expected mount, unmount or unmount-all)`);
    const count = countText === "" ? -1 : /^-?\d+$/.test(countText) ? Number(countText) : NaN;
    if (!Number.isSafeInteger(count) || count < -1) return bad(`count "${countText.slice(0, 20)}" is not a number >= 0`);
    if (client === "") return bad("empty client");
    if (path === "" && op !== "unmount-all") return bad("empty path");
    if (path !== "" && !path.startsWith("/")) return bad("path is not absolute");
    if (op !== "unmount-all" && count < 0) return bad("missing count");
    events.push({ where, op: op as SpoolOp, client, path, count });
  });
  if (last !== undefined && last !== "")
    problems.push({ where: `${name} line ${lines.length + 1}`, text: last.slice(0, 120), problem: "incomplete last line (no newline): dropped" });
  return { events, problems };
}

export interface SpoolPlanInput {
  readonly events: readonly SpoolEvent[];
  /** Baseline candidates, as planRecord takes them (empty before the first record). */
  readonly baselines: readonly CountMap[];
  readonly hosted: ReadonlySet<string>;
  readonly index: ExportIndex;
}

export interface SpoolPlan {
  /** Journal changes in the order mountd made them. */
  readonly changes: Change[];
  readonly ignored: Ignored[];
  /**
   * The baselines with the spool applied: what rmtab should hold now if
   * mountd wrote what it announced. planRecord diffs the file against these,
   * so a change the spool already journaled is not journaled again, and a
   * difference left (mountd failed to write after the callout) still is.
   */
  readonly baselines: Map<string, RmtabEntry>[];
}

/**
 * Turns callout events into journal changes with their exact counts
 * (a mount+umount pair a file diff never sees included). Events of exports
 * this node does not export (etab) are not journaled: the same rule as record.
 */
export function planSpool(input: SpoolPlanInput): SpoolPlan {
  const bases = (input.baselines.length > 0 ? input.baselines : [new Map<string, RmtabEntry>()]).map((b) => new Map(b));
  const touched = new Map<string, RmtabEntry>();
  const changes: Change[] = [];
  const ignored: Ignored[] = [];
  const countNow = (key: string): number[] => {
    const t = touched.get(key);
    return t !== undefined ? [t.count] : bases.map((b) => b.get(key)?.count ?? 0);
  };
  const apply = (client: string, path: string, count: number) => {
    const exp = input.index.exportOf(path);
    if (!exp) return; // unmanaged: never journaled
    if (!input.hosted.has(exp.name)) {
      ignored.push({ client, path, export: exp.name, reason: `export ${exp.name} is not exported by this node (etab)` });
      return;
    }
    const key = entryKey(client, path);
    const before = countNow(key);
    if (before.length === 1 && before[0] === count) return;
    const op: Change["op"] = count === 0 ? "umount" : before.every((c) => c === 0) ? "mount" : "count";
    changes.push({ op, client, path, count });
    touched.set(key, { client, path, count });
  };
  for (const e of input.events) {
    if (e.op !== "unmount-all" || e.path !== "") {
      apply(e.client, e.path, Math.max(0, e.count));
      continue;
    }
    // unmount-all without a path: every line of that client mountd knows of.
    const keys = new Map<string, RmtabEntry>();
    for (const b of bases) for (const [k, v] of b) if (v.client === e.client) keys.set(k, v);
    for (const [k, v] of touched) if (v.client === e.client) keys.set(k, v);
    for (const v of [...keys.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) apply(v.client, v.path, 0);
  }
  for (const b of bases)
    for (const [k, v] of touched) {
      if (v.count === 0) b.delete(k);
      else b.set(k, v);
    }
  return { changes, ignored, baselines: bases };
}
