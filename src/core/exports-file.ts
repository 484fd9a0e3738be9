// /etc/exports and /etc/exports.d/*.exports (exports(5)). Pure.
// A line is PATH followed by client(options) specs; "\" continues a line;
// "#" starts a comment; a path with spaces is double-quoted or \040-escaped.
import { unescapeEtabPath } from "./etab.js";

export interface ExportsLine {
  readonly file: string;
  /** Line where the entry starts (1-based). */
  readonly line: number;
  readonly path: string;
  readonly text: string;
}

export function parseExportsFile(text: string, file: string): ExportsLine[] {
  const out: ExportsLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let joined = lines[i]!;
    while (joined.endsWith("\\") && i + 1 < lines.length) joined = joined.slice(0, -1) + " " + lines[++i]!;
    const hash = joined.indexOf("#");
    const body = (hash >= 0 ? joined.slice(0, hash) : joined).trim();
    if (body === "") continue;
    let path: string;
    if (body.startsWith('"')) {
      const end = body.indexOf('"', 1);
      path = end > 0 ? body.slice(1, end) : body.slice(1);
    } else path = unescapeEtabPath(body.split(/\s/)[0]!);
    if (!path.startsWith("/")) continue; // "-options" default lines and the like
    out.push({ file, line: start + 1, path, text: body.length > 200 ? `${body.slice(0, 200)}...` : body });
  }
  return out;
}
