// File edges: reading rmtab/etab; writing files atomically, never through a
// symbolic link (except rmtab's, which mountd follows too), with a fixed mode.
import { randomBytes } from "node:crypto";
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { MalformedLine } from "../core/rmtab.js";
import { RefusedError } from "../errors.js";

export interface FileSnapshot {
  readonly content: Buffer;
  /** mtime in ms, or undefined when the file does not exist. */
  readonly mtimeMs: number | undefined;
  readonly exists: boolean;
}

/** Reads a file; a missing file reads as empty. */
export function readSnapshot(path: string): FileSnapshot {
  return readSnapshotWithRoom(path, 0);
}

/**
 * readSnapshot with `room` bytes free after the content, in `buf` (its
 * first bytes are the content): room to edit it in place, where a copy of
 * a multi-megabyte file would cost more (fresh pages) than the edit.
 */
export function readSnapshotWithRoom(path: string, room: number): FileSnapshot & { buf: Buffer } {
  try {
    const fd = openSync(path, constants.O_RDONLY);
    try {
      const st = fstatSync(fd);
      if (room === 0) {
        const content = readFileSync(fd);
        return { content, mtimeMs: st.mtimeMs, exists: true, buf: content };
      }
      const { content, buf } = readWithRoom(fd, st.size, room);
      return { content, mtimeMs: st.mtimeMs, exists: true, buf };
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      const buf = Buffer.alloc(room);
      return { content: buf.subarray(0, 0), mtimeMs: undefined, exists: false, buf };
    }
    throw err;
  }
}

/** The file to its end in a buffer `room` bytes longer (`buf`; `content` is its start). */
function readWithRoom(fd: number, size: number, room: number): { content: Buffer; buf: Buffer } {
  let buf = Buffer.allocUnsafe(size + room);
  let at = 0;
  for (;;) {
    const n = at < buf.length - room ? readSync(fd, buf, at, buf.length - room - at, null) : 0;
    if (n > 0) {
      at += n;
      continue;
    }
    // full (or at the end): one byte more tells a file that grew since fstat from its end
    const probe = Buffer.allocUnsafe(64 * 1024);
    const m = readSync(fd, probe, 0, probe.length, null);
    if (m === 0) break;
    const more = Buffer.allocUnsafe(Math.max(buf.length * 2, at + m + room));
    buf.copy(more, 0, 0, at);
    probe.copy(more, at, 0, m);
    buf = more;
    at += m;
  }
  return { content: buf.subarray(0, at), buf: buf.subarray(0, at + room) };
}

export function readTextIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** fsync of a file (or, with O_DIRECTORY, a directory) opened just for it. */
export function fsyncPath(path: string, flags: number = constants.O_RDONLY): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function fsyncDir(dir: string): void {
  fsyncPath(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}

/** Where a write to `path` really lands: mountd follows a symlinked rmtab, so do we (rmtab only). */
export function resolveTarget(path: string): string {
  try {
    return realpathSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return path;
    throw err;
  }
}

function symlinkRefused(path: string, cause?: unknown): RefusedError {
  return new RefusedError(`refusing to write ${path}: it is a symbolic link (replace it with a regular file, or name the real path)`, { cause });
}

/** Refuses (exit 3) to write `path` when it is a symbolic link: root must not write where another user points it. */
export function refuseSymlink(path: string): void {
  if (lstatIfExists(path)?.isSymbolicLink()) throw symlinkRefused(path);
}

/**
 * Opens `path` for writing without following a symbolic link (O_NOFOLLOW),
 * creating it with exactly `mode` (whatever the umask). `flags` adds
 * O_APPEND, O_EXCL, ...; an existing file is set to `mode` too.
 */
export function openNoFollow(path: string, flags: number, mode: number): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | flags, mode);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ELOOP") throw symlinkRefused(path, err);
    throw err;
  }
  try {
    fchmodSync(fd, mode);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** Creates an empty `path` with exactly `mode`; fails if anything (a file, a link) is there already. */
export function createExclusive(path: string, mode: number): void {
  closeSync(openNoFollow(path, constants.O_EXCL, mode));
}

/** lstat, or undefined when nothing is there. */
export function lstatIfExists(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/** Temp files of `writeFileAtomic` for `target`: `.<name>.tmp-<12 hex digits>`, next to it. */
function tempName(target: string, suffix: string): string {
  return join(dirname(target), `.${basename(target)}.tmp-${suffix}`);
}

function isTempOf(target: string, name: string): boolean {
  const prefix = `.${basename(target)}.tmp-`;
  return name.startsWith(prefix) && /^[0-9a-f]{12}$/.test(name.slice(prefix.length));
}

/** A temp file older than this was left by a killed writer (a live one renames it within milliseconds). */
const STALE_TEMP_MS = 60_000;

/** Removes temp files of `target` that a killed writer left: regular files we own, older than a minute. */
function removeStaleTemps(target: string, nowMs: number): void {
  const dir = dirname(target);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!isTempOf(target, name)) continue;
    const file = join(dir, name);
    try {
      const st = lstatSync(file);
      if (st.isFile() && st.uid === process.getuid?.() && nowMs - st.mtimeMs > STALE_TEMP_MS) unlinkSync(file);
    } catch {
      /* gone meanwhile */
    }
  }
}

export interface AtomicWriteOptions {
  /** The new file's mtime must fall in a later whole second than this (ms). */
  readonly mtimeAfterMs?: number;
  /** Called after the temp file is durable and before the rename. */
  readonly beforeRename?: () => void;
  readonly now?: () => number;
  /**
   * Mode of the written file, whatever the umask (default 0600: our files
   * hold client addresses). "keep" (rmtab): the existing file's mode, else 0644.
   */
  readonly mode?: number | "keep";
  /**
   * rmtab only: a symlinked target is followed and the rename lands on the
   * link's target, as mountd does. Every other write refuses a symlink.
   */
  readonly followSymlink?: boolean;
}

function modeFor(target: string, mode: number | "keep" | undefined): number {
  if (mode === undefined) return 0o600;
  if (mode !== "keep") return mode;
  try {
    return statSync(target).mode & 0o7777;
  } catch {
    return 0o644;
  }
}

/**
 * Replaces `path` with `content`: temp file in the same directory (created
 * exclusively, never through a link, under a random name), fsync, rename,
 * fsync of the directory. Readers see the old or the new file, never a
 * partial one.
 */
export function writeFileAtomic(path: string, content: string | Buffer, opts: AtomicWriteOptions = {}): void {
  if (!opts.followSymlink) refuseSymlink(path);
  const target = opts.followSymlink ? resolveTarget(path) : path;
  const dir = dirname(target);
  removeStaleTemps(target, Date.now());
  const tmp = tempName(target, randomBytes(6).toString("hex"));
  const fd = openNoFollow(tmp, constants.O_EXCL, modeFor(target, opts.mode));
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
        /* already gone */
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
  const fd = openNoFollow(quarantine, constants.O_APPEND, 0o600);
  try {
    const buf = Buffer.concat(parts);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
