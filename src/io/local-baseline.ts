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
//
// A record of one changed line writes that line, not the whole file again:
// the copy is a base (rmtabsync.baseline, an older release reads it as the
// whole copy) and the edits made since (rmtabsync.baseline-edits, naming the
// base it applies to; one left beside another base is ignored). Both are
// replaced atomically; a new base comes first, so a crash in between leaves
// edits naming the old base, and the copy is then the (older) base.
import { createHash, type Hash } from "node:crypto";
import { closeSync, constants, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Hlc } from "../core/hlc.js";
import { applySplicesInPlace, decodeSplices, spliceRoom, encodeSplices, smallSpliceOf, withSplice, type Splice } from "../core/baseline-edits.js";
import { JournalError } from "../errors.js";
import { readSnapshotWithRoom, refuseSymlink, writeFileAtomic } from "./files.js";

export interface LocalBaseline {
  readonly gen: number;
  /** Names the content (the journal keeps the same id for the same content; none: written before ids). */
  readonly id?: string;
  readonly journalId: string;
  /** Marker id of the control volume it was written against (none: written before markers had ids). */
  readonly markerId?: string;
  /** The filesystem it was written against: "uuid:<UUID>" or "dev:<major:minor>". */
  readonly volume?: string;
  readonly hosted: string[];
  readonly hlc: Hlc;
  readonly content: Buffer;
  /** As read: the base file's id and the edits applied to it (the next write adds to them). */
  readonly stored?: { readonly baseId: string; readonly edits: readonly Splice[] };
  /** As read: the content's length and sha256, from the header (none: written by an older release). */
  readonly digest?: { readonly length: number; readonly sha256: string };
}

export function localBaselineFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.baseline");
}

export function localEditsFile(stateDir: string): string {
  return join(stateDir, "rmtabsync.baseline-edits");
}

/**
 * A header line of JSON, then bytes; the header's fields checked by the
 * caller. `room`: bytes to leave free after the content (`buf` holds them).
 */
function readHeaded(file: string, room = 0): { h: Record<string, unknown>; head: string; rest: Buffer; buf: Buffer } | undefined {
  refuseSymlink(file); // refused before any work, not only at the write
  const snap = readSnapshotWithRoom(file, room);
  if (!snap.exists) return undefined;
  const nl = snap.content.indexOf(0x0a);
  try {
    if (nl < 0) throw new Error("no header line");
    const rest = snap.content.subarray(nl + 1);
    const head = snap.content.subarray(0, nl).toString("utf8");
    return { h: JSON.parse(head) as Record<string, unknown>, head, rest, buf: snap.buf.subarray(nl + 1) };
  } catch (err) {
    throw unreadable(file, err);
  }
}

function unreadable(file: string, err: unknown): JournalError {
  return new JournalError(file, `unreadable local baseline (${err instanceof Error ? err.message : String(err)}); move it aside: the journal's copy is then used`);
}

/** The fields both files carry, checked. */
function fields(h: Record<string, unknown>): Omit<LocalBaseline, "content" | "stored"> {
  const hlc = h.hlc as Record<string, unknown> | undefined;
  if (h.version !== 1 || typeof h.gen !== "number" || typeof h.journalId !== "string" || !Array.isArray(h.hosted) || typeof hlc?.wall !== "number" || typeof hlc.logical !== "number")
    throw new Error("header lacks version 1, gen, journalId, hosted or hlc");
  return {
    gen: h.gen,
    ...(typeof h.id === "string" ? { id: h.id } : {}),
    journalId: h.journalId,
    ...(typeof h.markerId === "string" ? { markerId: h.markerId } : {}),
    ...(typeof h.volume === "string" ? { volume: h.volume } : {}),
    hosted: h.hosted.map(String),
    hlc: { wall: hlc.wall, logical: hlc.logical },
    ...(Number.isSafeInteger(h.length) && typeof h.sha256 === "string" ? { digest: { length: h.length as number, sha256: h.sha256 } } : {}),
  };
}

/** The header line of a file, without reading the rest (the base is megabytes). */
function readHeadLine(file: string): string | undefined {
  refuseSymlink(file);
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(HEAD_MAX);
    let n = 0;
    for (let r; n < buf.length && (r = readSync(fd, buf, n, buf.length - n, n)) > 0; ) n += r;
    const nl = buf.subarray(0, n).indexOf(0x0a);
    if (nl < 0) throw unreadable(file, new Error(n < buf.length ? "no header line" : `no header line in its first ${HEAD_MAX} bytes`));
    return buf.subarray(0, nl).toString("utf8");
  } finally {
    closeSync(fd);
  }
}
const HEAD_MAX = 64 * 1024;

/**
 * Content taken from rmtab instead of the base file: see contentFromRmtab.
 * Only the copies readLocalBaseline returns are here.
 */
const provide = new WeakMap<LocalBaseline, (content: Buffer) => void>();

/**
 * When rmtab starts with the copy's content (its length and sha256, from
 * the header), the content is that part of rmtab, and the base file is
 * never read: mountd's MNT appends, so a record of a mount reads rmtab
 * only. Returns whether it did.
 */
export function contentFromRmtab(local: LocalBaseline, rmtab: Buffer): boolean {
  const give = provide.get(local);
  const d = local.digest;
  if (!give || !d || rmtab.length < d.length) return false;
  const hash = createHash("sha256").update(rmtab.subarray(0, d.length));
  const prefix = hash.copy();
  if (hash.digest("hex") !== d.sha256) return false;
  give(rmtab.subarray(0, d.length));
  hashedPrefix.set(rmtab, { length: d.length, hash: prefix });
  return true;
}

/**
 * The sha256 state of rmtab's first `length` bytes, as contentFromRmtab
 * hashed them: a record that takes rmtab as it is for the next copy hashes
 * only what mountd appended. (rmtab's bytes as read are never written to:
 * the local copy's content is a view of them.)
 */
const hashedPrefix = new WeakMap<Buffer, { length: number; hash: Hash }>();

function sha256(content: Buffer): string {
  const p = hashedPrefix.get(content);
  if (p && p.length <= content.length) return p.hash.copy().update(content.subarray(p.length)).digest("hex");
  return createHash("sha256").update(content).digest("hex");
}

/**
 * The local copy: its headers and edits now, its content when first asked
 * for (the base read with room for the edits, which are applied where it
 * lies), or from rmtab (contentFromRmtab).
 */
export function readLocalBaseline(stateDir: string): LocalBaseline | undefined {
  const file = localBaselineFile(stateDir);
  const editsFile = localEditsFile(stateDir);
  const e = readHeaded(editsFile);
  let edits: Splice[] | undefined;
  let editsProblem: unknown;
  try {
    edits = e && decodeSplices(e.rest);
  } catch (err) {
    editsProblem = err;
  }
  const headLine = readHeadLine(file);
  if (headLine === undefined) return undefined;
  let base: Omit<LocalBaseline, "content" | "stored">;
  try {
    base = fields(JSON.parse(headLine) as Record<string, unknown>);
  } catch (err) {
    throw unreadable(file, err);
  }
  // edits left beside another base (a crash between writing a base and removing them) are not its edits
  const withEdits = base.id !== undefined && e !== undefined && e.h.baseId === base.id;
  if (withEdits && !edits) throw unreadable(editsFile, editsProblem);
  let head: Omit<LocalBaseline, "content" | "stored">;
  try {
    head = withEdits ? fields(e.h) : base;
  } catch (err) {
    throw unreadable(editsFile, err);
  }
  const stored = base.id === undefined ? undefined : { baseId: base.id, edits: withEdits ? edits! : [] };
  const load = (): Buffer => {
    const b = readHeaded(file, withEdits ? spliceRoom(edits!) : 0);
    // replaced since its header was read (a writer holds mountd's lock, and so does every reader of the content)
    if (!b || b.head !== headLine) throw unreadable(file, new Error("it changed while it was read"));
    if (!withEdits) return b.rest;
    try {
      return b.buf.subarray(0, applySplicesInPlace(b.buf, b.rest.length, edits!));
    } catch (err) {
      throw unreadable(editsFile, err);
    }
  };
  let content: Buffer | undefined;
  const local = Object.defineProperty({ ...head, ...(stored ? { stored } : {}) }, "content", { get: () => (content ??= load()), enumerable: true }) as LocalBaseline;
  provide.set(local, (c) => void (content ??= c));
  return local;
}

function header(b: LocalBaseline, baseId?: string): Buffer {
  // the whole content's length and sha256 (after the edits, in the edits file's): see contentFromRmtab
  const digest = { length: b.content.length, sha256: sha256(b.content) };
  const h = { version: 1, gen: b.gen, id: b.id, journalId: b.journalId, markerId: b.markerId, volume: b.volume, hosted: b.hosted, hlc: b.hlc, ...(baseId ? { baseId } : {}), ...digest };
  return Buffer.from(`${JSON.stringify(h)}\n`, "utf8");
}

/**
 * Writes `b`: as edits to the base `prev` was read from while they stay
 * small, else as a new base. `b.id` must be new (a base is named by it).
 * Returns `b` as it is now stored (what the next write adds to).
 */
export function writeLocalBaseline(stateDir: string, b: LocalBaseline, prev?: LocalBaseline): LocalBaseline {
  const stored = prev?.stored;
  const edits = stored && b.id !== undefined ? withSplice(stored.edits, smallSpliceOf(prev.content, b.content)) : undefined;
  if (stored && edits) {
    writeFileAtomic(localEditsFile(stateDir), Buffer.concat([header(b, stored.baseId), encodeSplices(edits)]));
    return { ...b, stored: { baseId: stored.baseId, edits } };
  }
  writeFileAtomic(localBaselineFile(stateDir), Buffer.concat([header(b), b.content]));
  rmSync(localEditsFile(stateDir), { force: true });
  return { ...b, ...(b.id !== undefined ? { stored: { baseId: b.id, edits: [] } } : {}) };
}
