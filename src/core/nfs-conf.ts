// nfs.conf: the ini format nfs-utils reads (support/nfs/conffile.c). Pure.
//   [section]  or  [section "subsection"]
//   key = value      (# and ; start comments; section and key are case-insensitive)
// Later assignments win; nfs.conf.d/*.conf files are read after nfs.conf.

export interface NfsConfProblem {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly problem: string;
}

export interface NfsConf {
  /** "section.key" (lower case) -> value. */
  readonly values: Map<string, string>;
  /** Where each value was set: "file line N". */
  readonly origin: Map<string, string>;
  readonly problems: NfsConfProblem[];
}

export function emptyNfsConf(): NfsConf {
  return { values: new Map(), origin: new Map(), problems: [] };
}

function stripComment(s: string): string {
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && (c === "#" || c === ";")) return s.slice(0, i);
  }
  return s;
}

/** Parses one file into `into` (later files override earlier ones). */
export function parseNfsConf(text: string, file: string, into: NfsConf = emptyNfsConf()): NfsConf {
  let section = "";
  text.split("\n").forEach((raw, i) => {
    const line = stripComment(raw).trim();
    if (line === "") return;
    const sec = /^\[\s*([^\]"\s]+)(?:\s+"([^"]*)")?\s*\]$/.exec(line);
    if (sec) {
      section = sec[1]!.toLowerCase() + (sec[2] !== undefined ? ` "${sec[2]}"` : "");
      return;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv) {
      into.problems.push({ file, line: i + 1, text: raw.slice(0, 80), problem: "expected [section] or key = value" });
      return;
    }
    if (section === "") {
      into.problems.push({ file, line: i + 1, text: raw.slice(0, 80), problem: "key = value outside any [section]" });
      return;
    }
    let value = kv[2]!.trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const key = `${section}.${kv[1]!.trim().toLowerCase()}`;
    into.values.set(key, value);
    into.origin.set(key, `${file} line ${i + 1}`);
  });
  return into;
}

/** Port number from a value, or undefined when it is not one. */
export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,5}$/.test(v)) return undefined;
  const n = Number(v);
  return n > 0 && n < 65536 ? n : undefined;
}
