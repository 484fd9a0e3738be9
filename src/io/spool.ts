// The callout's spool on the local state directory: <stateDir>/rmtabsync.spool.
//
// Taking it is safe only while holding mountd's rmtab lock EXCLUSIVELY:
// mountd runs the callout inside its own write lock, so no callout can append
// while we hold the lock. Under it the spool is renamed to
// rmtabsync.spool.taken-<n> (a callout after we release appends to a fresh
// spool, created by its O_APPEND|O_CREAT), read, its events committed to the
// journal together with the identity of each taken file, and only then
// unlinked. A crash between rename and commit leaves a taken file that the
// next run folds; a crash between commit and unlink leaves one the journal
// already names, which the next run only unlinks.
//
// With export groups the node still has one spool (mountd has one callout),
// but every event belongs to one control directory's journal: the one of
// its export's group. So, under the same exclusive lock, the spool is first
// handed out (routeSpool): each taken file is split into one file per
// control directory, in that control directory's spool directory on this
// node (<stateDir>/rmtabsync.groups/<group>/, <stateDir>/rmtabsync.spool.shared/
// for the shared one), under the same name, and only then unlinked. A crash
// before the unlink leaves the source, which the next run hands out again:
// a part already there (same name) is left as it is. Each control
// directory then takes its own files as above, so a group whose volume
// cannot be written (or is not mounted here) keeps its events on this node
// until it can, and never passes them to another group's journal.
import { closeSync, constants, existsSync, fchmodSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { parseSpool, type SpoolEvent, type SpoolProblem } from "../core/spool.js";
import { RefusedError } from "../errors.js";
import { writeFileAtomic } from "./files.js";

export const SPOOL_NAME = "rmtabsync.spool";
const TAKEN_RE = /^rmtabsync\.spool\.taken-(\d+)$/;

export function spoolPath(stateDir: string): string {
  return join(stateDir, SPOOL_NAME);
}

/** The taken files in order, oldest first. */
function takenFiles(stateDir: string): { file: string; n: number }[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return [];
  }
  const out: { file: string; n: number }[] = [];
  for (const name of names) {
    const m = TAKEN_RE.exec(name);
    if (m) out.push({ file: join(stateDir, name), n: Number(m[1]) });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** What waits in one spool directory (status): events the callout captured that no record journaled yet. */
export interface SpoolSummary {
  readonly dir: string;
  readonly files: number;
  /** Lines in them (one event each). */
  readonly events: number;
  /** mtime of the oldest file (ms): the events are at least that old. */
  readonly oldest: number | undefined;
}

/** Reads without taking anything: the live spool and the taken files of `dir`. */
export function spoolSummary(dir: string): SpoolSummary {
  let files = 0;
  let events = 0;
  let oldest: number | undefined;
  for (const file of [spoolPath(dir), ...takenFiles(dir).map((t) => t.file)]) {
    let text: string;
    let mtime: number;
    try {
      const st = statSync(file);
      if (!st.isFile() || st.size === 0) continue;
      mtime = st.mtimeMs;
      text = readFileSync(file, "utf8");
    } catch {
      continue; // gone meanwhile (a record took it), or unreadable: record names it
    }
    files++;
    events += text.split("\n").filter((l) => l !== "").length;
    oldest = oldest === undefined ? mtime : Math.min(oldest, mtime);
  }
  return { dir, files, events, oldest };
}

/** True when there is something for record to fold (then it takes the lock exclusively). */
export function spoolWaiting(stateDir: string): boolean {
  try {
    if (statSync(spoolPath(stateDir)).size > 0) return true;
  } catch {
    /* no spool */
  }
  return takenFiles(stateDir).length > 0;
}

/** The directory where the shared control directory's share of the spool waits when there are export groups. */
export const SHARED_SPOOL_DIR = "rmtabsync.spool.shared";

/** How the node's spool is handed out to the control directories (export groups); see the top. */
export interface SpoolRouting {
  /** This control directory's spool directory. */
  readonly dir: string;
  /** Every control directory's spool directory, this one's included. */
  readonly dirs: readonly string[];
  /** The spool directories an event goes to: its export's; every one for an unmount-all without a path; none for a path under no export. */
  readonly dirsOf: (e: SpoolEvent) => readonly string[];
}

/** True when there is something for this control directory to fold (then record takes the lock exclusively). */
export function spoolWaitingFor(stateDir: string, routing: SpoolRouting | undefined): boolean {
  return spoolWaiting(stateDir) || (routing !== undefined && spoolWaiting(routing.dir));
}

/** One spool line, as the callout writes it (core/spool.ts). */
function spoolLine(e: SpoolEvent): string {
  return `${e.op}\t${e.count < 0 ? "" : e.count}\t${e.client}\t${e.path}\n`;
}

/** Opens a spool file to read; undefined when it is gone. */
function openSpoolFile(file: string): number | undefined {
  try {
    return openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new RefusedError(`refusing to read spool ${file}: it is a symbolic link (remove it)`, { cause: err });
    throw err;
  }
}

/**
 * Hands the node's spool out to the control directories' spool directories
 * (see the top). Only while holding mountd's rmtab lock exclusively. A bad
 * line is reported with `warn` and dropped, as when it is folded.
 */
export function routeSpool(stateDir: string, routing: SpoolRouting, warn: (msg: string) => void): void {
  const files = takenFiles(stateDir);
  const live = spoolPath(stateDir);
  let liveSize = 0;
  try {
    liveSize = statSync(live).size;
  } catch {
    /* none */
  }
  if (liveSize > 0) {
    // a number no control directory's spool directory holds yet: a part is never mistaken for another's
    const n = Math.max(0, ...files.map((f) => f.n), ...routing.dirs.flatMap((d) => takenFiles(d).map((f) => f.n))) + 1;
    const dest = join(stateDir, `${SPOOL_NAME}.taken-${n}`);
    renameSync(live, dest);
    files.push({ file: dest, n });
  }
  for (const { file, n } of files) {
    const fd = openSpoolFile(file);
    if (fd === undefined) continue;
    let text: string;
    try {
      text = readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
    const parsed = parseSpool(text, file);
    for (const pr of parsed.problems) warn(`${pr.where}: ${pr.problem}: ${JSON.stringify(pr.text)}`);
    const parts = new Map<string, string>();
    for (const e of parsed.events) for (const d of routing.dirsOf(e)) parts.set(d, (parts.get(d) ?? "") + spoolLine(e));
    for (const [dir, part] of parts) {
      const dest = join(dir, `${SPOOL_NAME}.taken-${n}`);
      if (existsSync(dest)) continue; // handed out before a crash kept us from unlinking the source
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      // client addresses: 0600
      writeFileAtomic(dest, part, { mode: 0o600 });
    }
    unlinkSync(file);
  }
}

/**
 * This control directory's events: with `routing` (export groups), the
 * node's spool is handed out first and this control directory's own files
 * are taken (a dry run reads both, handing out nothing); without, the
 * node's spool itself.
 */
export function takeUnitSpool(stateDir: string, routing: SpoolRouting | undefined, folded: ReadonlySet<string>, opts: { peek: boolean; warn: (msg: string) => void }): TakenSpool {
  if (routing === undefined) return takeSpool(stateDir, folded, opts);
  if (!opts.peek) {
    routeSpool(stateDir, routing, opts.warn);
    return takeSpool(routing.dir, folded, opts);
  }
  const mine = takeSpool(routing.dir, folded, opts);
  const node = takeSpool(stateDir, new Set(), opts);
  return {
    events: [...mine.events, ...node.events.filter((e) => routing.dirsOf(e).includes(routing.dir))],
    problems: [...mine.problems, ...node.problems],
    ids: mine.ids,
    finish: () => {},
  };
}

/** Identity of a file that survives nothing but itself: device, inode, ctime (changes on rename) and size. */
function identity(fd: number): string {
  const st = fstatSync(fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}`;
}

export interface TakenSpool {
  readonly events: SpoolEvent[];
  readonly problems: SpoolProblem[];
  /** Identities of every taken file, folded now or before (stored with the commit; see the top). */
  readonly ids: string[];
  /** After the commit: unlinks the taken files. */
  readonly finish: () => void;
}

/**
 * Takes the spool (see the top of this file). `folded` is the list of
 * identities the journal says were committed already. With `peek`, nothing
 * is renamed or unlinked (dry run).
 */
export function takeSpool(stateDir: string, folded: ReadonlySet<string>, opts: { peek: boolean }): TakenSpool {
  const files = takenFiles(stateDir);
  const live = spoolPath(stateDir);
  let liveSize = 0;
  try {
    liveSize = statSync(live).size;
  } catch {
    /* none */
  }
  if (liveSize > 0) {
    if (opts.peek) files.push({ file: live, n: Number.MAX_SAFE_INTEGER });
    else {
      const n = (files.at(-1)?.n ?? 0) + 1;
      const dest = join(stateDir, `${SPOOL_NAME}.taken-${n}`);
      renameSync(live, dest);
      files.push({ file: dest, n });
    }
  }
  const events: SpoolEvent[] = [];
  const problems: SpoolProblem[] = [];
  const ids: string[] = [];
  const done: string[] = [];
  for (const { file } of files) {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      if ((err as NodeJS.ErrnoException).code === "ELOOP") throw new RefusedError(`refusing to read spool ${file}: it is a symbolic link (remove it)`, { cause: err });
      throw err;
    }
    try {
      // client addresses: 0600, whatever the umask mountd's callout ran with; before
      // the identity is taken (a chmod changes the ctime), and only once per file
      if (!opts.peek && (fstatSync(fd).mode & 0o777) !== 0o600) fchmodSync(fd, 0o600);
      const id = identity(fd);
      done.push(file);
      ids.push(id);
      if (folded.has(id)) continue; // committed before a crash kept us from unlinking it
      const parsed = parseSpool(readFileSync(fd, "utf8"), file);
      events.push(...parsed.events);
      problems.push(...parsed.problems);
    } finally {
      closeSync(fd);
    }
  }
  return {
    events,
    problems,
    ids,
    finish: () => {
      if (opts.peek) return;
      for (const f of done) {
        try {
          unlinkSync(f);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      }
    },
  };
}
