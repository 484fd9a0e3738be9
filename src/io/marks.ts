// This node's marks: the newest event it has seen of every journal. Kept in
// the local state directory, outside the control volume, so that a control
// volume rolled back by a DRBD split-brain or a restored backup cannot take
// the evidence back with it.
import { join } from "node:path";
import type { Mark } from "../core/integrity.js";
import { JournalError } from "../errors.js";
import { readTextIfExists, refuseSymlink, writeFileAtomic } from "./files.js";

export function marksFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.marks");
}

export function readMarks(stateDir: string): Mark[] {
  const file = marksFile(stateDir);
  refuseSymlink(file); // refused before any work, not only at the write
  const text = readTextIfExists(file);
  if (text === undefined) return [];
  try {
    const data = JSON.parse(text) as { version?: unknown; marks?: unknown };
    if (data.version !== 1 || !Array.isArray(data.marks)) throw new Error("expected {version: 1, marks: [...]}");
    return data.marks.map((m: unknown, i: number) => {
      const o = m as Record<string, unknown>;
      if (typeof o.journalId !== "string" || typeof o.node !== "string" || typeof o.seq !== "number" || typeof o.hash !== "string")
        throw new Error(`mark ${i} lacks journalId, node, seq or hash`);
      return { journalId: o.journalId, node: o.node, seq: o.seq, hash: o.hash };
    });
  } catch (err) {
    throw new JournalError(file, `unreadable marks file (${err instanceof Error ? err.message : String(err)}); move it aside to start over`);
  }
}

export function writeMarks(stateDir: string, marks: readonly Mark[]): void {
  const sorted = [...marks].sort((a, b) => (a.journalId < b.journalId ? -1 : 1));
  writeFileAtomic(marksFile(stateDir), `${JSON.stringify({ version: 1, marks: sorted }, null, 1)}\n`);
}

export function sameMarks(a: readonly Mark[], b: readonly Mark[]): boolean {
  if (a.length !== b.length) return false;
  const m = new Map(a.map((x) => [x.journalId, x]));
  return b.every((x) => {
    const y = m.get(x.journalId);
    return y !== undefined && y.seq === x.seq && y.hash === x.hash && y.node === x.node;
  });
}
