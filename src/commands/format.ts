// Human renderings shared by record and reconcile.
import type { JournalEvent } from "../core/events.js";
import { hlcJson } from "../core/hlc.js";
import type { LineChange } from "../core/plan.js";
import type { RecordReport } from "../sync.js";

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
