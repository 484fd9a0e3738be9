// etab: what exportfs has exported on this node right now. Pure.
//   PATH<TAB>CLIENT(opt,opt,...)
// Whitespace, control characters, '"', '\' and '#' in PATH are \ooo escapes.

export interface EtabLine {
  readonly line: number;
  readonly path: string;
  readonly client: string;
  readonly options: readonly string[];
}

export interface ParsedEtab {
  readonly lines: EtabLine[];
  readonly problems: { line: number; text: string; problem: string }[];
}

export function unescapeEtabPath(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString("latin1"))) {
      bytes.push(parseInt(raw.subarray(i + 1, i + 4).toString("latin1"), 8));
      i += 3;
    } else bytes.push(c);
  }
  return Buffer.from(bytes).toString("utf8");
}

export function parseEtab(content: string): ParsedEtab {
  const lines: EtabLine[] = [];
  const problems: ParsedEtab["problems"] = [];
  content.split("\n").forEach((text, i) => {
    if (text.trim() === "" || text.startsWith("#")) return;
    const m = /^(\S+)\s+([^(\s]*)\(([^)]*)\)\s*$/.exec(text);
    if (!m) {
      problems.push({ line: i + 1, text, problem: "expected PATH<TAB>CLIENT(options)" });
      return;
    }
    lines.push({
      line: i + 1,
      path: unescapeEtabPath(m[1]!),
      client: m[2]!,
      options: m[3]!.split(",").filter((o) => o !== ""),
    });
  });
  return { lines, problems };
}
