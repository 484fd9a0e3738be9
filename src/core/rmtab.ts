// rmtab: parse and serialize exactly as rpc.mountd reads and writes it
// (nfs-utils support/nfs/rmtab.c). Pure: no file system here.
//
//   line   = host ":" path [ ":" count ] "\n"
//   host   = numeric address; every ":" of an IPv6 address stored as ";"
//   count  = strtol(s, NULL, 0): hex, decimal or octal; missing means 1
//
// mountd stops parsing the whole file at the first line without ":", so a
// line we cannot represent exactly is never written back: it is reported
// as malformed and quarantined by the caller.
import { isAscii } from "node:buffer";
import { EntryIndex } from "./entry-index.js";

/** One rmtab entry; `client` is the address with its real ":" characters. */
export interface RmtabEntry {
  readonly client: string;
  readonly path: string;
  readonly count: number;
}

export interface MalformedLine {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The line as found, without its newline (Latin-1 view if not UTF-8). */
  readonly text: string;
  /** The exact bytes of the line, without its newline. */
  readonly bytes: Uint8Array;
  readonly problem: string;
}

export interface ParsedRmtab {
  /** Entries in file order, duplicates of client+path merged (counts summed). */
  readonly entries: RmtabEntry[];
  /** Where each client+path stands in `entries`. */
  readonly index: EntryIndex;
  readonly malformed: MalformedLine[];
  /** Lines that repeat an earlier client+path (merged into it). */
  readonly duplicates: number[];
  /** True when serialize(entries) reproduces the input byte for byte. */
  readonly canonical: boolean;
}

/** mountd reads a line with fgets(buf, 2047): 2046 bytes including "\n". */
export const MAX_LINE_BYTES = 2046;
/** mountd copies host and path into 1024-byte fields (strncpy, size - 1). */
export const MAX_FIELD_BYTES = 1024;
/** mountd keeps the count in an int and prints it with %.8x. */
export const MAX_COUNT = 0x7fffffff;

const COUNT_RE = /^(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/;

export function entryKey(client: string, path: string): string {
  return `${client}\n${path}`;
}

/** Parses a count the way strtol(s, NULL, 0) does, but only when the whole field is a number. */
export function parseCount(field: string): number | undefined {
  if (!COUNT_RE.test(field)) return undefined;
  let n: number;
  if (/^0[xX]/.test(field)) n = parseInt(field.slice(2), 16);
  else if (field.length > 1 && field.startsWith("0")) n = parseInt(field.slice(1), 8);
  else n = parseInt(field, 10);
  return Number.isSafeInteger(n) ? n : undefined;
}

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

// The usual entry, checked in three regex tests: printable ASCII (so a byte
// per character), a client without white space or ';', an absolute path
// without ':' and without a '.' or '..' component, each field within
// MAX_FIELD_BYTES. What fails here goes through the full checks, which say why.
const PLAIN_CLIENT = /^[!-:<-~]{1,1024}$/;
const PLAIN_PATH = /^\/[ -9;-~]{0,1023}$/;
const DOT_COMPONENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Why a client address cannot stand in an rmtab line, or undefined. */
export function clientProblem(client: string): string | undefined {
  if (PLAIN_CLIENT.test(client)) return undefined;
  if (client === "") return "empty client address";
  if (byteLength(client) > MAX_FIELD_BYTES) return `client address longer than ${MAX_FIELD_BYTES} bytes`;
  // mountd writes the client's address as inet_ntop or the resolver gave it: never with white space
  if (/\s/.test(client)) return `client address ${JSON.stringify(truncate(client))} contains white space (mountd never writes that)`;
  if (/[\x00-\x1f\x7f]/.test(client)) return "client address contains a control character";
  if (client.includes(";")) return "client address contains ';'";
  return undefined;
}

/** Why a path cannot stand in an rmtab line, or undefined. */
export function pathProblem(path: string): string | undefined {
  if (PLAIN_PATH.test(path) && !DOT_COMPONENT.test(path)) return undefined;
  if (path === "") return "empty path";
  if (byteLength(path) > MAX_FIELD_BYTES) return `path longer than ${MAX_FIELD_BYTES} bytes`;
  if (/[\x00-\x1f\x7f]/.test(path)) return "path contains a control character";
  if (path.includes(":")) return "path contains ':' (mountd would split it there)";
  if (!path.startsWith("/")) return "path is not absolute";
  if (path.split("/").some((c) => c === "." || c === "..")) return "path has a '.' or '..' component (mountd records real paths)";
  return undefined;
}

function plainEntry(e: RmtabEntry): boolean {
  return (
    PLAIN_CLIENT.test(e.client) &&
    PLAIN_PATH.test(e.path) &&
    !DOT_COMPONENT.test(e.path) &&
    Number.isInteger(e.count) &&
    e.count >= 1 &&
    e.count <= MAX_COUNT &&
    // formatLine: client ":" path ":0x" 8 hex digits "\n"
    e.client.length + e.path.length + 13 <= MAX_LINE_BYTES
  );
}

/** Why an entry cannot be written as an rmtab line mountd reads back unchanged, or undefined. */
export function entryProblem(e: RmtabEntry): string | undefined {
  if (plainEntry(e)) return undefined;
  const p = clientProblem(e.client) ?? pathProblem(e.path);
  if (p) return p;
  if (!Number.isInteger(e.count) || e.count < 1 || e.count > MAX_COUNT)
    return `count ${e.count} outside 1..${MAX_COUNT}`;
  if (byteLength(formatLine(e)) > MAX_LINE_BYTES) return `line longer than ${MAX_LINE_BYTES} bytes`;
  return undefined;
}

/** The canonical line mountd itself writes: host:path:0x%08x\n. */
export function formatLine(e: RmtabEntry): string {
  return `${e.client.replaceAll(":", ";")}:${e.path}:0x${e.count.toString(16).padStart(8, "0")}\n`;
}

// A line as formatLine writes a plain entry (see PLAIN_CLIENT, PLAIN_PATH): the client's ":" are ";"
// (and a count of 1..MAX_COUNT: its first hex digit 0-7, not all zeros)
const PLAIN_LINE = /[!-9;-~]+:\/[ -9;-~]*:0x(?!0{8})[0-7][0-9a-f]{7}\n/y;
/** A plain line this long or shorter has both fields within MAX_FIELD_BYTES (the 13 bytes of separators and count aside). */
const PLAIN_LINE_MAX = MAX_FIELD_BYTES + 12;
const SLASH = 0x2f;

/**
 * Why `text` is not `lines` lines, each as formatLine writes an entry
 * mountd reads back unchanged, or undefined. The fold cache's lines were
 * made so; this is what stands between a damaged cache file and rmtab.
 * `pathOk` checks each line's path, except one at or under `root`, a path
 * it is known to take with everything below it (ExportIndex.soleRoot).
 */
export function linesProblem(text: string, lines: number, pathOk?: (path: string) => boolean, root?: string): string | undefined {
  let n = 0;
  let dot = text.indexOf("/.");
  const under = root !== undefined ? plainLineUnder(root) : undefined;
  for (let at = 0; at < text.length; n++) {
    if (under) {
      // the usual line: plain, of a path at or under the root, short, without a "/."
      under.lastIndex = at;
      if (under.test(text)) {
        const end = under.lastIndex;
        if (dot >= 0 && dot < at) dot = text.indexOf("/.", at);
        if (end - at <= PLAIN_LINE_MAX && !(dot >= 0 && dot < end)) {
          at = end;
          continue;
        }
      }
    }
    PLAIN_LINE.lastIndex = at;
    const plain = PLAIN_LINE.test(text);
    const end = plain ? PLAIN_LINE.lastIndex : text.indexOf("\n", at) + 1;
    if (end <= at) return `line ${n + 1} has no newline`;
    if (dot >= 0 && dot < at) dot = text.indexOf("/.", at);
    // a "/." in the line may start a "." or ".." component; a long line may have a field too long: parsed
    if (!plain || end - at > PLAIN_LINE_MAX || (dot >= 0 && dot < end)) {
      const line = text.slice(at, end);
      const parsed = parseRmtab(Buffer.from(line, "utf8"));
      if (!parsed.canonical || parsed.entries.length !== 1) return `line ${n + 1} ${JSON.stringify(truncate(line.slice(0, -1)))} is not an rmtab line mountd reads back`;
    }
    if (pathOk) {
      const from = text.indexOf(":", at) + 1;
      const to = end - 12;
      // under `root` (a path pathOk takes, with all below it) no lookup is needed
      const under = root !== undefined && text.startsWith(root, from) && (from + root.length === to || text.charCodeAt(from + root.length) === SLASH);
      if (!under) {
        const path = text.slice(from, to);
        if (!pathOk(path)) return `line ${n + 1} has a path, ${JSON.stringify(truncate(path))}, that does not belong here`;
      }
    }
    at = end;
  }
  return n === lines ? undefined : `${n} lines where ${lines} were counted`;
}

const underRoot = new Map<string, RegExp | undefined>();

/**
 * PLAIN_LINE for a path at or under `root` only (one regex instead of a
 * regex and a look at the path per line); none for a root not made of
 * plain path bytes.
 */
function plainLineUnder(root: string): RegExp | undefined {
  if (!underRoot.has(root)) {
    const literal = root.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
    // PLAIN_LINE with its path "\/[ -9;-~]*" narrowed to the root and what lies below it
    underRoot.set(root, /^\/[ -9;-~]*$/.test(root) ? new RegExp(`[!-9;-~]+:${literal}(?:\\/[ -9;-~]*)?:0x(?!0{8})[0-7][0-9a-f]{7}\n`, "y") : undefined);
  }
  return underRoot.get(root);
}

/** The line the fold cache keeps for an entry: its rmtab line, or null when it has none (a count of 0) or cannot have one. */
export function foldLine(e: RmtabEntry): string | null {
  return e.count > 0 && entryProblem(e) === undefined ? formatLine(e) : null;
}

function parseLine(text: string): RmtabEntry | string {
  if (text === "") return "empty line (mountd stops reading the file here)";
  const hostEnd = text.indexOf(":");
  if (hostEnd < 0) return "no ':' (mountd stops reading the file here)";
  const host = text.slice(0, hostEnd);
  const rest = text.slice(hostEnd + 1);
  const pathEnd = rest.indexOf(":");
  const path = pathEnd < 0 ? rest : rest.slice(0, pathEnd);
  let count = 1;
  if (pathEnd >= 0) {
    const field = rest.slice(pathEnd + 1);
    const n = parseCount(field);
    if (n === undefined) return `count ${JSON.stringify(truncate(field))} is not a number (or the path contains ':')`;
    count = n;
  }
  if (host.includes("\r") || path.includes("\r")) return "carriage return in line";
  const entry = { client: host.replaceAll(";", ":"), path, count };
  return entryProblem(entry) ?? entry;
}

/** Whether `text` is exactly the line formatLine writes for `e` (cheaper than formatting it). */
function isCanonicalText(text: string, e: RmtabEntry): boolean {
  const countAt = text.length - 11;
  return (
    text.charCodeAt(countAt) === 0x3a && // ':'
    CANONICAL_COUNT_RE.test(text.slice(countAt + 1)) &&
    text.length === e.client.length + 1 + e.path.length + 11
  );
}

const CANONICAL_COUNT_RE = /^0x[0-9a-f]{8}$/;

function truncate(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max)}...` : s;
}

/**
 * Parses rmtab content. Never throws: every line mountd would misread or
 * that we could not write back exactly is reported in `malformed`.
 */
export function parseRmtab(content: Buffer | string): ParsedRmtab {
  const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  const entries: RmtabEntry[] = [];
  const index = new EntryIndex(entries);
  const malformed: MalformedLine[] = [];
  const duplicates: number[] = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  // the usual file is all ASCII: then it is one string, a character per byte, cut into lines
  // (a decode and a Buffer view per line cost more than the rest of the parse)
  const whole = isAscii(buf) ? buf.toString("latin1") : undefined;
  const nulFree = whole !== undefined && !whole.includes("\0");
  let pos = 0;
  let lineNo = 0;
  let linesCanonical = true;
  while (pos < buf.length) {
    lineNo++;
    let end = whole !== undefined ? whole.indexOf("\n", pos) : buf.indexOf(0x0a, pos);
    const hasNewline = end >= 0;
    if (!hasNewline) end = buf.length;
    const start = pos;
    pos = end + 1;
    const raw = () => buf.subarray(start, end);
    let text: string;
    if (whole !== undefined) text = whole.slice(start, end);
    else
      try {
        text = decoder.decode(raw());
      } catch {
        malformed.push({ line: lineNo, text: raw().toString("latin1"), bytes: raw(), problem: "not valid UTF-8" });
        continue;
      }
    if (end - start + (hasNewline ? 1 : 0) > MAX_LINE_BYTES) {
      malformed.push({ line: lineNo, text, bytes: raw(), problem: `line longer than ${MAX_LINE_BYTES} bytes (mountd would split it)` });
      continue;
    }
    if (!nulFree && text.includes("\0")) {
      malformed.push({ line: lineNo, text, bytes: raw(), problem: "NUL byte in line" });
      continue;
    }
    const parsed = parseLine(text);
    if (typeof parsed === "string") {
      malformed.push({ line: lineNo, text, bytes: raw(), problem: parsed });
      continue;
    }
    if (linesCanonical && (!hasNewline || !isCanonicalText(text, parsed))) linesCanonical = false;
    const at = index.get(parsed.client, parsed.path);
    if (at === undefined) {
      entries.push(parsed);
      index.add(entries.length - 1);
    } else {
      const prev = entries[at]!;
      entries[at] = { ...prev, count: Math.min(MAX_COUNT, prev.count + parsed.count) };
      duplicates.push(lineNo);
    }
  }
  const canonical = malformed.length === 0 && duplicates.length === 0 && linesCanonical;
  return { entries, index, malformed, duplicates, canonical };
}

/** Canonical rmtab content for entries (caller guarantees each passes entryProblem). */
export function serializeRmtab(entries: readonly RmtabEntry[]): string {
  let out = "";
  for (const e of entries) out += formatLine(e);
  return out;
}

/**
 * serializeRmtab's content as UTF-8 bytes, encoded 64 KiB of lines at a
 * time: a 100k-line rmtab never stands as one string (4 MB, and several
 * times that while it is built).
 */
export function serializeRmtabBytes(entries: readonly RmtabEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let chunk = "";
  for (const e of entries) {
    chunk += formatLine(e);
    if (chunk.length >= 65_536) {
      chunks.push(Buffer.from(chunk, "utf8"));
      chunk = "";
    }
  }
  chunks.push(Buffer.from(chunk, "utf8"));
  return Buffer.concat(chunks);
}

/** The lines of `current` and of `base` between their common first and last lines. */
export interface ChangedRegion {
  readonly current: Buffer;
  readonly base: Buffer;
  /** Where the region starts, the same in both: the bytes before it are equal. */
  readonly start: number;
}

const CHUNK = 64 * 1024;

/** Length of the longest common prefix of a and b (memcmp by chunks, then bytes). */
function commonPrefix(a: Buffer, b: Buffer, limit: number): number {
  // one view of the other's bytes (a baseline read from rmtab itself): equal without a look
  if (a.buffer === b.buffer && a.byteOffset === b.byteOffset) return limit;
  let n = 0;
  while (n + CHUNK <= limit && a.subarray(n, n + CHUNK).equals(b.subarray(n, n + CHUNK))) n += CHUNK;
  while (n < limit && a[n] === b[n]) n++;
  return n;
}

/** Length of the longest common suffix of a and b, at most `limit` bytes. */
function commonSuffix(a: Buffer, b: Buffer, limit: number): number {
  let n = 0;
  while (n + CHUNK <= limit && a.subarray(a.length - n - CHUNK, a.length - n).equals(b.subarray(b.length - n - CHUNK, b.length - n))) n += CHUNK;
  while (n < limit && a[a.length - n - 1] === b[b.length - n - 1]) n++;
  return n;
}

/**
 * Narrows two rmtab contents to the whole lines that differ: the common
 * leading lines and the common trailing lines are cut off. mountd appends a
 * MNT, rewrites one line in place for a count and drops one line for an
 * UMNT, so the region is a few lines whatever the file's length, and it is
 * found with memcmp instead of a parse.
 */
export function changedRegion(current: Buffer, base: Buffer): ChangedRegion {
  const min = Math.min(current.length, base.length);
  let start = commonPrefix(current, base, min);
  // the common part ends at a line's end (its bytes are the same in both)
  if (start > 0 && current[start - 1] !== 0x0a) start = current.lastIndexOf(0x0a, start - 1) + 1;
  let tail = commonSuffix(current, base, min - start);
  const lineStart = (b: Buffer, i: number) => i === 0 || b[i - 1] === 0x0a;
  if (tail > 0 && !(lineStart(current, current.length - tail) && lineStart(base, base.length - tail))) {
    // the trailing part starts right after a newline: the same offset from the end in both
    const nl = current.indexOf(0x0a, current.length - tail);
    tail = nl < 0 ? 0 : current.length - nl - 1;
  }
  return { current: current.subarray(start, current.length - tail), base: base.subarray(start, base.length - tail), start };
}
