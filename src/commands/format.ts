// Human renderings shared by record and reconcile.
import type { JournalEvent } from "../core/events.js";
import { hlcJson } from "../core/hlc.js";
import type { LineChange } from "../core/plan.js";
import type { RecordReport } from "../sync.js";
import type { UnitsReport } from "../units.js";
import type { Runtime } from "./common.js";

export function eventJson(e: JournalEvent, exportOf: (path: string) => string | null) {
  return { ...hlcJson(e), node: e.node, op: e.op, client: e.client, path: e.path, count: e.count, export: exportOf(e.path), seq: e.seq };
}

export function lineJson(c: LineChange) {
  return { client: c.client, path: c.path, count: c.to, from: c.from, export: c.export };
}

/**
 * Text output names at most this many lines of one kind (a takeover may add
 * 100k): the rest is counted per export. --json lists every one.
 */
export const LISTED_MAX = 20;

/** What listed() lists: an array, or a list read only as far as it is listed that counts itself per export. */
export type Listable<T> = Iterable<T> & { readonly length: number; byExport?(): Map<string, number> };

/** `line` for the first LISTED_MAX items, then one line counting the others (per export, given `exportOf`). */
export function listed<T>(items: Listable<T>, line: (x: T) => string, what: string, exportOf?: (x: T) => string | null): string[] {
  const shown: T[] = [];
  const per = new Map<string, number>();
  let n = 0;
  for (const x of items) {
    if (n < LISTED_MAX) shown.push(x);
    else if (!exportOf) break;
    else if (items.byExport) break;
    else {
      const e = exportOf(x) || "no export";
      per.set(e, (per.get(e) ?? 0) + 1);
    }
    n++;
  }
  const out = shown.map(line);
  if (items.length > LISTED_MAX) {
    // a list that counts itself: its counts less those of the lines shown
    if (exportOf && items.byExport) {
      for (const [e, k] of items.byExport()) per.set(e || "no export", k);
      for (const x of shown) {
        const e = exportOf(x) || "no export";
        per.set(e, per.get(e)! - 1);
      }
      for (const [e, k] of per) if (k === 0) per.delete(e);
    }
    const counts = [...per].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([e, k]) => `${e} ${k}`);
    out.push(`... and ${items.length - LISTED_MAX} more ${what} (${[...counts, "--json lists every one"].join("; ")})`);
  }
  return out;
}

export function recordText(r: RecordReport): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`! ${p.file}: ${p.problem}`);
  lines.push(...listed(r.malformed, (m) => `! rmtab line ${m.line}: ${m.problem}: ${JSON.stringify(m.text.slice(0, 80))}`, "malformed lines"));
  const verb = r.dryRun ? "would record" : "recorded";
  lines.push(...listed(r.recorded, (e) => `${verb} ${e.op.padEnd(6)} ${e.client} ${e.path} count ${e.count}`, r.dryRun ? "changes to record" : "changes recorded"));
  lines.push(...listed(r.ignored.listed(), (i) => `not recorded: ${i.client} ${i.path} (${i.reason}; reconcile restores it)`, "lines not recorded", (i) => i.export));
  lines.push(...r.ignored.summaries().map((s) => `not recorded: ${s}`));
  if (r.recorded.length === 0) lines.push(`no changes to record${r.first ? " (first record)" : ""}`);
  return lines.join("\n") + "\n";
}

/**
 * A run over several control directories: per unit (the shared one, each
 * group) its report, or why it was not here or refused; then the lines that
 * left rmtab because their group is served elsewhere.
 */
export function printUnits<R>(rt: Runtime, json: boolean, all: UnitsReport<R>, toJson: (r: R) => object, toText: (r: R) => string): void {
  const verb = all.dryRun ? "would remove" : "removed";
  if (json) {
    rt.out(
      `${JSON.stringify(
        {
          node: all.node,
          dryRun: all.dryRun,
          rmtab: all.rmtab,
          units: all.units.map((u) => ({
            unit: u.unit.name,
            group: u.unit.group ?? null,
            controlDir: u.unit.cfg.controlDir,
            exports: u.unit.cfg.exports.map((e) => e.name),
            state: u.state,
            ...(u.state === "done" ? toJson(u.report) : { reason: u.reason }),
          })),
          released: all.released.map(lineJson),
        },
        null,
        2,
      )}\n`,
    );
    return;
  }
  let text = "";
  for (const u of all.units) {
    const head = `${u.unit.group === undefined ? "shared" : `group ${u.unit.group}`} (${u.unit.cfg.controlDir})`;
    if (u.state === "done") text += `${head}:\n${toText(u.report).replace(/^(?=.)/gm, "  ")}`;
    else if (u.state === "absent") text += `${head}: not here: ${u.reason}\n`;
    else text += `${head}: ${u.state}: ${u.reason}\n`;
  }
  for (const c of all.released) text += `${verb}  ${c.client} ${c.path} (${c.export}: served elsewhere)\n`;
  rt.out(text);
}
