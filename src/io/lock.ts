// mountd's own lock: a POSIX fcntl lock on <stateDir>/.rmtab.lock.
//
// fcntl locks belong to the process and vanish when ANY descriptor of the
// file is closed, so one in-process mutex per lock file serialises every
// holder in this process, and the descriptor stays open until release.
import { closeSync, fstatSync, openSync, statSync, constants } from "node:fs";
import { lock as fcntlLock, unlock as fcntlUnlock } from "os-lock";
import { LockTimeoutError } from "../errors.js";

export interface LockOptions {
  /** Write lock (mount/umount/rewrite) or read lock (like mountd's DUMP). */
  readonly exclusive: boolean;
  /** Give up after this many milliseconds. */
  readonly timeoutMs: number;
  /** Called once when the lock is busy and we start waiting. */
  readonly onWait?: () => void;
  /**
   * false: never create the lock file (read-only callers). A missing file
   * means no rpc.mountd holds the lock, and fn runs without it. Default true.
   */
  readonly create?: boolean;
}

const mutexes = new Map<string, Promise<void>>();

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function isBusy(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === "EAGAIN" || code === "EACCES" || code === "EBUSY" || code === "EWOULDBLOCK";
}

/** Takes the fcntl lock, re-checking that the path still names the locked inode. */
async function acquire(path: string, opts: LockOptions, deadline: number): Promise<number | undefined> {
  let waited = false;
  let delay = 2;
  for (;;) {
    let fd: number;
    if (opts.create === false) {
      try {
        fd = openSync(path, opts.exclusive ? constants.O_RDWR : constants.O_RDONLY);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw err;
      }
    } else fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    let locked = false;
    try {
      await fcntlLock(fd, { exclusive: opts.exclusive, immediate: true });
      locked = true;
    } catch (err) {
      if (!isBusy(err)) {
        closeSync(fd);
        throw err;
      }
    }
    if (locked) {
      // mountd unlinks the lock file on exit: a lock on an unlinked inode excludes no one.
      let same = false;
      try {
        const a = fstatSync(fd);
        const b = statSync(path);
        same = a.ino === b.ino && a.dev === b.dev;
      } catch {
        same = false;
      }
      if (same) return fd;
    }
    closeSync(fd);
    if (Date.now() >= deadline) {
      throw new LockTimeoutError(
        `could not lock ${path} within ${(opts.timeoutMs / 1000).toFixed(1)} s (held by rpc.mountd or another process); nothing was written`,
      );
    }
    if (!waited && !locked) {
      waited = true;
      opts.onWait?.();
    }
    await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
    // mountd holds its lock for an MNT's callout and write: the record the
    // daemon started on the callout's spool event gets it at most 10 ms late
    // (a cap of 50 made the watch latency wait up to 50 ms for nothing)
    delay = Math.min(delay * 2, 10);
  }
}

/** Runs fn while holding mountd's rmtab lock. */
export async function withRmtabLock<T>(path: string, opts: LockOptions, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const previous = mutexes.get(path) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((r) => (release = r));
  const chained = previous.then(() => mine);
  mutexes.set(path, chained);
  try {
    await previous;
    const fd = await acquire(path, opts, deadline);
    if (fd === undefined) return await fn();
    try {
      return await fn();
    } finally {
      try {
        await fcntlUnlock(fd);
      } finally {
        closeSync(fd);
      }
    }
  } finally {
    release();
    if (mutexes.get(path) === chained) mutexes.delete(path);
  }
}
