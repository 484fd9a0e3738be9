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

export function recordText(r: RecordReport): string {
  const lines: string[] = [];
  for (const p of r.problems) lines.push(`! ${p.file}: ${p.problem}`);
  for (const m of r.malformed) lines.push(`! rmtab line ${m.line}: ${m.problem}: ${JSON.stringify(m.text.slice(0, 80))}`);
  for (const e of r.recorded) lines.push(`${r.dryRun ? "would record" : "recorded"} ${e.op.padEnd(6)} ${e.client} ${e.path} count ${e.count}`);
  for (const i of r.ignored) lines.push(`not recorded: ${i.client} ${i.path} (${i.reason}; reconcile restores it)`);
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
