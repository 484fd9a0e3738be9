// A copy of this node's baseline (the rmtab it last recorded or wrote, the
// exports it exported then) and of its clock's high-water mark, kept in the
// local state directory. The journal holds the same, atomically with its
// events; this copy survives when the control volume is rolled back (a DRBD
// split-brain, a restored backup), so that the next record neither repeats
// nor misses what the lost events said. The higher generation wins, but only
// when the copy was written against the same control volume (marker id and
// filesystem): one written into an old copy of the volume (not mounted, a
// stale directory underneath) is ignored, so it never hides a change from
// the real volume.
import { join } from "node:path";
import type { Hlc } from "../core/hlc.js";
import { JournalError } from "../errors.js";
import { readSnapshot, refuseSymlink, writeFileAtomic } from "./files.js";

export interface LocalBaseline {
  readonly gen: number;
  readonly journalId: string;
  /** Marker id of the control volume it was written against (none: written before markers had ids). */
  readonly markerId?: string;
  /** The filesystem it was written against: "uuid:<UUID>" or "dev:<major:minor>". */
  readonly volume?: string;
  readonly hosted: string[];
  readonly hlc: Hlc;
  readonly content: Buffer;
}

export function localBaselineFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.baseline");
}

export function readLocalBaseline(stateDir: string): LocalBaseline | undefined {
  const file = localBaselineFile(stateDir);
  refuseSymlink(file); // refused before any work, not only at the write
  const snap = readSnapshot(file);
  if (!snap.exists) return undefined;
  const nl = snap.content.indexOf(0x0a);
  try {
    if (nl < 0) throw new Error("no header line");
    const h = JSON.parse(snap.content.subarray(0, nl).toString("utf8")) as Record<string, unknown>;
    const hlc = h.hlc as Record<string, unknown> | undefined;
    if (h.version !== 1 || typeof h.gen !== "number" || typeof h.journalId !== "string" || !Array.isArray(h.hosted) || typeof hlc?.wall !== "number" || typeof hlc.logical !== "number")
      throw new Error("header lacks version 1, gen, journalId, hosted or hlc");
    return {
      gen: h.gen,
      journalId: h.journalId,
      ...(typeof h.markerId === "string" ? { markerId: h.markerId } : {}),
      ...(typeof h.volume === "string" ? { volume: h.volume } : {}),
      hosted: h.hosted.map(String),
      hlc: { wall: hlc.wall, logical: hlc.logical },
      content: snap.content.subarray(nl + 1),
    };
  } catch (err) {
    throw new JournalError(file, `unreadable local baseline (${err instanceof Error ? err.message : String(err)}); move it aside: the journal's copy is then used`);
  }
}

export function writeLocalBaseline(stateDir: string, b: LocalBaseline): void {
  const header = JSON.stringify({ version: 1, gen: b.gen, journalId: b.journalId, markerId: b.markerId, volume: b.volume, hosted: b.hosted, hlc: b.hlc });
  writeFileAtomic(localBaselineFile(stateDir), Buffer.concat([Buffer.from(`${header}\n`, "utf8"), b.content]));
}
