// The Pacemaker CIB, reduced to what doctor checks: primitives (agent,
// params, ops), groups, clones, and the start order that group membership
// and rsc_order constraints (resource sets included) impose. Pure.

export interface CibOp {
  readonly name: string;
  readonly interval: string | null;
  readonly timeout: string | null;
}

export interface CibPrimitive {
  readonly id: string;
  /** "ocf:heartbeat:exportfs" style; provider omitted when absent. */
  readonly agent: string;
  readonly type: string;
  readonly params: Readonly<Record<string, string>>;
  readonly ops: readonly CibOp[];
  /** Enclosing group, if any. */
  readonly group: string | null;
}

export interface CibGroup {
  readonly id: string;
  readonly members: readonly string[];
}

export interface Cib {
  readonly primitives: ReadonlyMap<string, CibPrimitive>;
  readonly groups: ReadonlyMap<string, CibGroup>;
  /** Any resource id (group, clone, primitive) -> the primitives it stands for. */
  readonly expand: ReadonlyMap<string, readonly string[]>;
  /** Primitive -> primitives that must have started before it starts. */
  readonly after: ReadonlyMap<string, ReadonlySet<string>>;
  /** The reverse: primitive -> primitives that start only after it. */
  readonly before: ReadonlyMap<string, ReadonlySet<string>>;
  /** Pairs of resources tied together by colocation (expanded to primitives). */
  readonly colocated: ReadonlyMap<string, ReadonlySet<string>>;
  /** Default operation timeout from op_defaults, if set. */
  readonly opDefaultTimeout: string | null;
}

/** True when `first` is guaranteed to have started before `then` starts. */
export function startsBefore(cib: Cib, first: string, then: string): boolean {
  const seen = new Set<string>();
  const stack = [then];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    for (const p of cib.after.get(cur) ?? []) {
      if (p === first) return true;
      if (!seen.has(p)) {
        seen.add(p);
        stack.push(p);
      }
    }
  }
  return false;
}

/** Primitives that belong with `id`: its group's members and everything colocated or ordered with it. */
export function related(cib: Cib, id: string): Set<string> {
  const out = new Set<string>();
  const p = cib.primitives.get(id);
  if (p?.group) for (const m of cib.groups.get(p.group)?.members ?? []) out.add(m);
  const groupMembers = [...out];
  for (const m of [id, ...groupMembers]) {
    for (const c of cib.colocated.get(m) ?? []) out.add(c);
    for (const a of cib.after.get(m) ?? []) out.add(a);
    for (const b of cib.before.get(m) ?? []) out.add(b);
  }
  out.delete(id);
  return out;
}

/** Pacemaker durations: "90", "90s", "1500ms", "2m"/"2min", "1h", or ISO 8601 "PT90S". Seconds, or undefined. */
export function parseDurationSeconds(v: string): number | undefined {
  const t = v.trim();
  const m = /^(\d+(?:\.\d+)?)\s*(ms|msec|s|sec|m|min|h|hr)?$/i.exec(t);
  if (m) {
    const n = Number(m[1]);
    const unit = (m[2] ?? "s").toLowerCase();
    const mult = unit === "ms" || unit === "msec" ? 0.001 : unit === "m" || unit === "min" ? 60 : unit === "h" || unit === "hr" ? 3600 : 1;
    return n * mult;
  }
  const iso = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/i.exec(t);
  if (iso && (iso[1] || iso[2] || iso[3])) return Number(iso[1] ?? 0) * 3600 + Number(iso[2] ?? 0) * 60 + Number(iso[3] ?? 0);
  return undefined;
}

/** The exportfs primitives: directories (space-separated) and their fsids (fsid, fsid+1, ... for several). */
export interface CibExport {
  readonly id: string;
  readonly directories: readonly string[];
  /** fsid per directory (null when not set); "root" counts as 0. */
  readonly fsids: readonly (string | null)[];
  readonly options: readonly string[];
}

export function cibExports(cib: Cib): CibExport[] {
  const out: CibExport[] = [];
  for (const p of cib.primitives.values()) {
    if (p.type !== "exportfs") continue;
    const directories = (p.params.directory ?? "").split(/\s+/).filter((d) => d !== "").map((d) => (d.length > 1 ? d.replace(/\/+$/, "") : d));
    const options = (p.params.options ?? "").split(",").filter((o) => o !== "");
    let base = p.params.fsid ?? options.find((o) => o.startsWith("fsid="))?.slice(5) ?? null;
    if (base === "root") base = "0";
    const fsids = directories.map((_, i) => {
      if (base === null) return null;
      if (directories.length > 1 && /^\d+$/.test(base)) return String(Number(base) + i);
      return base;
    });
    out.push({ id: p.id, directories, fsids, options });
  }
  return out;
}
