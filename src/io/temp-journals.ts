// Journals that recover creates are built under a temporary name (schema and
// rows, fsynced) and renamed into place, so a killed recover never leaves an
// empty or half-made `*.sqlite` that peers would read as a broken journal.
// The temporary name, `.<name>.sqlite.tmp-<host>-<pid>-<random>`, never
// matches listJournalFiles' `*.sqlite`; the next init, reconcile or recover
// removes the ones whose process is gone.
import { constants, lstatSync, readdirSync, renameSync, unlinkSync, existsSync } from "node:fs";
import { fsyncPath } from "./files.js";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { basename, dirname, join } from "node:path";
import { errorMessage } from "../errors.js";

const TEMP_RE = /^\.(.+\.sqlite)\.tmp-(.+)-(\d+)-([0-9a-f]{8})(-journal)?$/;

/** A temp made by another host, or unparsable, counts as stale only after this long. */
export const FOREIGN_TEMP_STALE_MS = 24 * 3600_000;

function thisHost(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, "_") || "localhost";
}

/** A fresh temporary name beside `file` for building it. */
export function tempJournalFile(file: string): string {
  return join(dirname(file), `.${basename(file)}.tmp-${thisHost()}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Makes `tmp` durable and renames it to `file` (which must not exist yet), then fsyncs the directory. */
export function publishTempJournal(tmp: string, file: string): void {
  fsyncPath(tmp, constants.O_RDONLY);
  if (existsSync(file)) throw new Error(`${file} appeared while it was being created (is another recover running?); ${tmp} left for the next run to remove`);
  renameSync(tmp, file);
  fsyncPath(dirname(file), constants.O_RDONLY | constants.O_DIRECTORY);
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes temporary journals (and their SQLite rollback journals) left by a
 * killed command in `journalsDir`: made on this host by a process that is
 * gone, or made elsewhere more than a day ago. Only names of that pattern
 * are touched. Returns the removed paths and what could not be removed.
 */
export function removeStaleTempJournals(journalsDir: string, nowMs: number): { removed: string[]; problems: string[] } {
  const removed: string[] = [];
  const problems: string[] = [];
  let names: string[];
  try {
    names = readdirSync(journalsDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { removed, problems };
    return { removed, problems: [`cannot list ${journalsDir}: ${errorMessage(err)}`] };
  }
  const host = thisHost();
  for (const n of names) {
    const m = TEMP_RE.exec(n);
    if (!m) continue;
    const file = join(journalsDir, n);
    try {
      const st = lstatSync(file);
      if (!st.isFile()) continue;
      const stale = m[2] === host ? processGone(Number(m[3])) : nowMs - st.mtimeMs > FOREIGN_TEMP_STALE_MS;
      if (!stale) continue;
      unlinkSync(file);
      removed.push(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      problems.push(`cannot remove stale temporary journal ${file}: ${errorMessage(err)}`);
    }
  }
  return { removed, problems };
}

/** removeStaleTempJournals, reporting what it removed or could not remove through `warn`. */
export function cleanTempJournals(journalsDir: string, nowMs: number, warn: (msg: string) => void): void {
  const r = removeStaleTempJournals(journalsDir, nowMs);
  for (const f of r.removed) warn(`removed ${f}: a temporary journal left by a killed command`);
  for (const p of r.problems) warn(p);
}
