// File edges: reading rmtab/etab and writing rmtab atomically.
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  futimesSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { MalformedLine } from "../core/rmtab.js";

export interface FileSnapshot {
  readonly content: Buffer;
  /** mtime in ms, or undefined when the file does not exist. */
  readonly mtimeMs: number | undefined;
  readonly exists: boolean;
}

/** Reads a file; a missing file reads as empty. */
export function readSnapshot(path: string): FileSnapshot {
  try {
    const fd = openSync(path, constants.O_RDONLY);
    try {
      const st = fstatSync(fd);
      const content = readFileSync(fd);
      return { content, mtimeMs: st.mtimeMs, exists: true };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { content: Buffer.alloc(0), mtimeMs: undefined, exists: false };
    throw err;
  }
}

export function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Where a write to `path` really lands: mountd follows a symlinked rmtab, so do we. */
export function resolveTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return path;
    throw err;
  }
}

export interface AtomicWriteOptions {
  /** The new file's mtime must fall in a later whole second than this (ms). */
  readonly mtimeAfterMs?: number;
  /** Called after the temp file is durable and before the rename. */
  readonly beforeRename?: () => void;
  readonly now?: () => number;
}

/**
 * Replaces `path` with `content`: temp file in the same directory, fsync,
 * rename, fsync of the directory. Readers see the old or the new file,
 * never a partial one.
 */
export function writeFileAtomic(path: string, content: string | Buffer, opts: AtomicWriteOptions = {}): void {
  const target = resolveTarget(path);
  const dir = dirname(target);
  const tmp = join(dir, `.${basename(target)}.rmtabsync-${process.pid}.tmp`);
  let mode = 0o644;
  try {
    mode = statSync(target).mode & 0o7777;
  } catch {
    /* new file */
  }
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
  let renamed = false;
  let open = true;
  try {
    const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (opts.mtimeAfterMs !== undefined) {
      // mountd caches its DUMP answer by rmtab's mtime in whole seconds.
      const now = (opts.now ?? Date.now)();
      const minSec = Math.floor(opts.mtimeAfterMs / 1000) + 1;
      const sec = Math.max(now / 1000, minSec);
      futimesSync(fd, sec, sec);
    }
    fsyncSync(fd);
    open = false;
    closeSync(fd);
    opts.beforeRename?.();
    renameSync(tmp, target);
    renamed = true;
    fsyncDir(dir);
  } finally {
    if (open) closeSync(fd);
    if (!renamed) {
      try {
        unlinkSync(tmp);
      } catch {
        /* never created or already gone */
      }
    }
  }
}

/** Appends malformed lines, verbatim, to the quarantine file (fsynced) with a comment naming their origin. */
export function appendQuarantine(quarantine: string, source: string, lines: readonly MalformedLine[], now: Date): void {
  if (lines.length === 0) return;
  const parts: Buffer[] = [];
  for (const m of lines) {
    parts.push(Buffer.from(`# ${now.toISOString()} removed from ${source} line ${m.line}: ${m.problem}\n`, "utf8"));
    parts.push(Buffer.from(m.bytes));
    parts.push(Buffer.from("\n"));
  }
  const fd = openSync(quarantine, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  try {
    const buf = Buffer.concat(parts);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
