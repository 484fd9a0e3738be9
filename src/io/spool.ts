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
import { closeSync, constants, fchmodSync, fstatSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { parseSpool, type SpoolEvent, type SpoolProblem } from "../core/spool.js";
import { RefusedError } from "../errors.js";

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

/** True when there is something for record to fold (then it takes the lock exclusively). */
export function spoolWaiting(stateDir: string): boolean {
  try {
    if (statSync(spoolPath(stateDir)).size > 0) return true;
  } catch {
    /* no spool */
  }
  return takenFiles(stateDir).length > 0;
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
