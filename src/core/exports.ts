// Maps rmtab paths to the configured exports that contain them. Pure.

export interface ExportDef {
  readonly name: string;
  readonly path: string;
  /** Nodes that may host this export. */
  readonly nodes: readonly string[];
}

/** Splits an absolute path into components, ignoring repeated and trailing slashes. */
function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Finds exports by path: the export whose path is the longest prefix of the
 * given path on whole components (/srv/vm0 contains /srv/vm0/images, not
 * /srv/vm01).
 */
export class ExportIndex {
  private readonly byPath = new Map<string, ExportDef>();
  private readonly byName = new Map<string, ExportDef>();
  private readonly cache = new Map<string, ExportDef | null>();

  constructor(readonly exports: readonly ExportDef[]) {
    for (const e of exports) {
      this.byPath.set(components(e.path).join("/"), e);
      this.byName.set(e.name, e);
    }
  }

  named(name: string): ExportDef | undefined {
    return this.byName.get(name);
  }

  /** The export containing `path`, or undefined for an unmanaged path. */
  exportOf(path: string): ExportDef | undefined {
    const hit = this.cache.get(path);
    if (hit !== undefined) return hit ?? undefined;
    let found: ExportDef | undefined;
    if (path.startsWith("/")) {
      if (path.length > 1 && !path.endsWith("/") && !path.endsWith("/.") && !path.includes("//") && !path.includes("/./")) {
        // its components are the text between its slashes: each prefix ending before a slash, the longest first
        for (let end = path.length; !found; end = path.lastIndexOf("/", end - 1)) {
          found = this.byPath.get(path.slice(1, end));
          if (end === 0) break;
        }
      } else {
        const parts = components(path);
        for (let n = parts.length; n >= 0 && !found; n--) found = this.byPath.get(parts.slice(0, n).join("/"));
      }
    }
    this.cache.set(path, found ?? null);
    return found;
  }

  /**
   * The path of export `name` (its slashes normalised) when no other export
   * lies at or under it: then every path that starts with it, followed by
   * "/" or nothing, is the export's. Undefined otherwise.
   */
  soleRoot(name: string): string | undefined {
    const e = this.byName.get(name);
    if (!e) return undefined;
    const own = components(e.path).join("/");
    if (own === "" || this.byPath.get(own) !== e) return undefined;
    for (const p of this.byPath.keys()) if (p !== own && p.startsWith(`${own}/`)) return undefined;
    return `/${own}`;
  }

  /** Exports whose path is exactly `path` (after normalising slashes). */
  exactly(path: string): ExportDef | undefined {
    return this.byPath.get(components(path).join("/"));
  }

  /** Exports `node` may host according to the configuration. */
  eligibleFor(node: string): Set<string> {
    return new Set(this.exports.filter((e) => e.nodes.includes(node)).map((e) => e.name));
  }
}
