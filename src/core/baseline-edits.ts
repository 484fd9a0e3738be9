// A baseline (the canonical rmtab a record or reconcile last saw) kept as a
// base plus the edits made to it since, so that a record of one changed
// line writes that line, not the whole multi-megabyte file again. mountd
// appends a MNT, rewrites a line in place for a count and drops a line for
// an UMNT: each record's change is one region of lines replaced by another.

import { changedRegion } from "./rmtab.js";

/** Replace `del` bytes at offset `start` by `ins`. */
export interface Splice {
  readonly start: number;
  readonly del: number;
  readonly ins: Buffer;
}

/** An encoded splice's header: start, del and the inserted length (uint32 each). */
const HEAD = 12;

/** Edits are worth keeping up to this size (encoded); past it the whole baseline is written again. */
export const MAX_EDITS_BYTES = 64 * 1024;
/** ... and up to this many: reading the baseline applies every one. */
export const MAX_EDITS = 256;

/**
 * The one splice that turns `prev` into `next` (the lines between their
 * common first and last lines) when it is small enough to keep as an edit
 * (MAX_EDITS_BYTES), else undefined: the bytes of a large one (a takeover's
 * whole new rmtab) are never copied, the caller writes the whole content.
 */
export function smallSpliceOf(prev: Buffer, next: Buffer): Splice | undefined {
  const r = changedRegion(next, prev);
  if (HEAD + r.current.length > MAX_EDITS_BYTES) return undefined;
  return { start: r.start, del: r.base.length, ins: Buffer.from(r.current) };
}

export function encodeSplices(list: readonly Splice[]): Buffer {
  const out = Buffer.alloc(list.reduce((n, s) => n + HEAD + s.ins.length, 0));
  let at = 0;
  for (const s of list) {
    out.writeUInt32BE(s.start, at);
    out.writeUInt32BE(s.del, at + 4);
    out.writeUInt32BE(s.ins.length, at + 8);
    s.ins.copy(out, at + HEAD);
    at += HEAD + s.ins.length;
  }
  return out;
}

/** Throws (a message without a file name: the caller names it) when the bytes are not a list of splices. */
export function decodeSplices(data: Buffer): Splice[] {
  const list: Splice[] = [];
  let at = 0;
  while (at < data.length) {
    if (at + HEAD > data.length) throw new Error(`edit ${list.length + 1} is cut short`);
    const len = data.readUInt32BE(at + 8);
    if (at + HEAD + len > data.length) throw new Error(`edit ${list.length + 1} is cut short`);
    list.push({ start: data.readUInt32BE(at), del: data.readUInt32BE(at + 4), ins: data.subarray(at + HEAD, at + HEAD + len) });
    at += HEAD + len;
  }
  return list;
}

/**
 * The base with every splice applied in order, in one new buffer (see
 * applySplicesInPlace). Throws when a splice reaches past the content it
 * applies to.
 */
export function applySplices(base: Buffer, list: readonly Splice[]): Buffer {
  if (list.length === 0) return base;
  const buf = Buffer.allocUnsafe(base.length + spliceRoom(list));
  base.copy(buf);
  return buf.subarray(0, applySplicesInPlace(buf, base.length, list));
}

/** The bytes past the base's end that applying `list` in place needs (its content at its longest, less the base). */
export function spliceRoom(list: readonly Splice[]): number {
  let grown = 0;
  let most = 0;
  for (const s of list) {
    grown += s.ins.length - s.del;
    most = Math.max(most, grown);
  }
  return most;
}

/**
 * Applies `list`, in order, to the first `length` bytes of `buf`, in place:
 * no copy of the whole content (a fresh multi-megabyte buffer costs more
 * than moving the bytes after a splice: mountd's changes are near the end).
 * `buf` must hold `length + spliceRoom(list)` bytes. Returns the new length.
 */
export function applySplicesInPlace(buf: Buffer, length: number, list: readonly Splice[]): number {
  if (buf.length < length + spliceRoom(list)) throw new Error(`no room for the edits (${buf.length} bytes for ${length} + ${spliceRoom(list)})`);
  list.forEach((s, i) => {
    if (s.start + s.del > length) throw new Error(`edit ${i + 1} reaches past the end (${s.start}+${s.del} of ${length} bytes)`);
    buf.copyWithin(s.start + s.ins.length, s.start + s.del, length);
    s.ins.copy(buf, s.start);
    length += s.ins.length - s.del;
  });
  return length;
}

/**
 * The edits after one more splice, or undefined when they would grow past
 * the limits or there is none (smallSpliceOf found it too large): then the
 * whole baseline is written again.
 */
export function withSplice(edits: readonly Splice[], s: Splice | undefined): Splice[] | undefined {
  if (s === undefined) return undefined;
  const next = [...edits, s];
  if (next.length > MAX_EDITS) return undefined;
  return next.reduce((n, x) => n + HEAD + x.ins.length, 0) <= MAX_EDITS_BYTES ? next : undefined;
}
