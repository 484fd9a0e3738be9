// Configuration: one YAML file, identical on every node.
// validateConfig is pure; loadConfig reads the file.
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parseDocument } from "yaml";
import type { ExportDef } from "./core/exports.js";
import { ConfigError, UsageError } from "./errors.js";
import { parseDuration } from "./core/time.js";

export const DEFAULT_CONFIG_PATH = "/etc/rmtabsync/config.yaml";

export interface Config {
  readonly file: string;
  readonly cluster: string;
  /**
   * The shared control volume (mounted on every node: the cluster-wide view),
   * or "" when every export is in a group (see `groups`). In a group's view
   * (controlUnits) it is the group's control directory.
   */
  readonly controlDir: string;
  /**
   * controlDir must be a mount point (the control volume's), checked before
   * anything is written there; false allows a plain directory (tests, demo).
   */
  readonly controlDirIsMountpoint: boolean;
  readonly stateDir: string;
  readonly nodes: readonly string[];
  readonly exports: readonly ExportDef[];
  /** Where this node's system files are (real defaults; tests point them at prepared trees). */
  readonly system: SystemPaths;
  /** How far ahead of this node's clock an event may be stamped before it is held back (ms). */
  readonly maxClockSkewMs: number;
  /** Export groups, each with its own control directory (on the group's own replicated volume). */
  readonly groups: readonly GroupDef[];
  /** Set in a group's view (controlUnits): the group whose control directory `controlDir` is. */
  readonly group?: string;
}

/** An export group: exports that fail over together, with their own control directory. */
export interface GroupDef {
  readonly name: string;
  readonly controlDir: string;
  readonly controlDirIsMountpoint: boolean;
  /** Names of the group's exports (all in Config.exports). */
  readonly exports: readonly string[];
}

export const DEFAULT_MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** System files and tools the node facts are read from. */
export interface SystemPaths {
  readonly nfsConf: string;
  readonly nfsConfDir: string;
  readonly exports: string;
  readonly exportsDir: string;
  readonly procExports: string;
  readonly nfsdClients: string;
  readonly nfsdLeaseTime: string;
  readonly nfsdGraceTime: string;
  readonly nfsdVersions: string;
  readonly nfsdThreads: string;
  readonly mountinfo: string;
  readonly nfsServerEnabled: string;
  readonly blkid: string;
  /** rpc.nfsd (a command name is looked up on PATH, then in /usr/sbin and /sbin). */
  readonly rpcNfsd: string;
}

export const DEFAULT_SYSTEM_PATHS: SystemPaths = {
  nfsConf: "/etc/nfs.conf",
  nfsConfDir: "/etc/nfs.conf.d",
  exports: "/etc/exports",
  exportsDir: "/etc/exports.d",
  procExports: "/proc/net/rpc/nfsd.export/content",
  nfsdClients: "/proc/fs/nfsd/clients",
  nfsdLeaseTime: "/proc/fs/nfsd/nfsv4leasetime",
  nfsdGraceTime: "/proc/fs/nfsd/nfsv4gracetime",
  nfsdVersions: "/proc/fs/nfsd/versions",
  nfsdThreads: "/proc/fs/nfsd/threads",
  mountinfo: "/proc/self/mountinfo",
  nfsServerEnabled: "/etc/systemd/system/multi-user.target.wants/nfs-server.service",
  blkid: "blkid",
  rpcNfsd: "rpc.nfsd",
};

/** Names usable as file names and in every tool that shows them. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const TOP_KEYS = ["cluster", "controlDir", "controlDirIsMountpoint", "stateDir", "nodes", "exports", "groups", "system", "maxClockSkew"];
const GROUP_KEYS = ["name", "controlDir", "controlDirIsMountpoint", "exports"];
const SYSTEM_KEYS = Object.keys(DEFAULT_SYSTEM_PATHS) as (keyof SystemPaths)[];
const EXPORT_KEYS = ["name", "path", "nodes"];

function describe(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v.length > 40 ? `${v.slice(0, 40)}...` : v}"`;
  return `${typeof v} ${String(v)}`;
}

/** Checks raw YAML data; returns the config or every problem, each naming key, expected and found. */
export function validateConfig(raw: unknown, file: string): Config | string[] {
  const problems: string[] = [];
  const bad = (key: string, expected: string, found: unknown) =>
    problems.push(`${key}: expected ${expected}, found ${describe(found)}`);
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    bad("(top level)", "a mapping with cluster, controlDir, nodes, exports", raw);
    return problems;
  }
  const obj = raw as Record<string, unknown>;
  // the shared mode's message stays as it was; a file that uses groups hears of them
  const known = obj.groups === undefined ? TOP_KEYS.filter((k) => k !== "groups") : TOP_KEYS;
  for (const k of Object.keys(obj)) if (!TOP_KEYS.includes(k)) problems.push(`${k}: unknown key (expected one of ${known.join(", ")})`);

  const name = (key: string, v: unknown): string | undefined => {
    if (typeof v === "string" && NAME_RE.test(v)) return v;
    bad(key, "a name of letters, digits, '.', '_' or '-' (at most 63)", v);
    return undefined;
  };
  const absPath = (key: string, v: unknown): string | undefined => {
    if (typeof v === "string" && isAbsolute(v) && !v.includes("\n") && !v.includes(":")) return v.length > 1 ? v.replace(/\/+$/, "") : v;
    bad(key, "an absolute path without ':' or newlines", v);
    return undefined;
  };

  const cluster = name("cluster", obj.cluster);
  // without groups the shared control directory is required; with them, only for exports in no group (checked below)
  const controlDir = obj.controlDir === undefined && Array.isArray(obj.groups) ? "" : absPath("controlDir", obj.controlDir);
  let controlDirIsMountpoint = true;
  if (typeof obj.controlDirIsMountpoint === "boolean") controlDirIsMountpoint = obj.controlDirIsMountpoint;
  else if (obj.controlDirIsMountpoint !== undefined) bad("controlDirIsMountpoint", "true or false", obj.controlDirIsMountpoint);
  const stateDir = obj.stateDir === undefined ? "/var/lib/nfs" : absPath("stateDir", obj.stateDir);

  let nodes: string[] = [];
  if (!Array.isArray(obj.nodes) || obj.nodes.length === 0) bad("nodes", "a non-empty list of node names", obj.nodes);
  else {
    obj.nodes.forEach((n, i) => {
      const v = name(`nodes[${i}]`, n);
      if (v === undefined) return;
      if (nodes.includes(v)) problems.push(`nodes[${i}]: expected a unique node name, found "${v}" twice`);
      else nodes.push(v);
    });
  }

  const exports: ExportDef[] = [];
  const exportDef = (e: unknown, at: string): ExportDef | undefined => {
    if (e === null || typeof e !== "object" || Array.isArray(e)) {
      bad(at, "a mapping with name and path", e);
      return undefined;
    }
    const x = e as Record<string, unknown>;
    for (const k of Object.keys(x)) if (!EXPORT_KEYS.includes(k)) problems.push(`${at}.${k}: unknown key (expected one of ${EXPORT_KEYS.join(", ")})`);
    const n = name(`${at}.name`, x.name);
    const p = absPath(`${at}.path`, x.path);
    let en: string[] = nodes;
    if (x.nodes !== undefined) {
      if (!Array.isArray(x.nodes) || x.nodes.length === 0) {
        bad(`${at}.nodes`, "a non-empty list of nodes from the top-level nodes list", x.nodes);
      } else {
        en = [];
        x.nodes.forEach((v, j) => {
          if (typeof v !== "string" || !nodes.includes(v)) bad(`${at}.nodes[${j}]`, `one of the configured nodes (${nodes.join(", ")})`, v);
          else if (!en.includes(v)) en.push(v);
        });
      }
    }
    if (n !== undefined && exports.some((o) => o.name === n)) problems.push(`${at}.name: expected a unique export name, found "${n}" twice`);
    if (p !== undefined && exports.some((o) => o.path === p)) problems.push(`${at}.path: expected a unique path, found "${p}" twice`);
    if (n === undefined || p === undefined) return undefined;
    const def = { name: n, path: p, nodes: en };
    exports.push(def);
    return def;
  };
  if (!Array.isArray(obj.exports) && !(obj.exports === undefined && Array.isArray(obj.groups)))
    bad("exports", "a list of exports (name, path, optional nodes)", obj.exports);
  else if (Array.isArray(obj.exports)) obj.exports.forEach((e, i) => exportDef(e, `exports[${i}]`));

  const groups = validateGroups(obj.groups, { problems, bad, name, absPath, exportDef, exports, controlDir: controlDir ?? "" });

  const system: { -readonly [K in keyof SystemPaths]: string } = { ...DEFAULT_SYSTEM_PATHS };
  const isSystemKey = (k: string): k is keyof SystemPaths => (SYSTEM_KEYS as string[]).includes(k);
  if (obj.system !== undefined) {
    if (obj.system === null || typeof obj.system !== "object" || Array.isArray(obj.system))
      bad("system", `a mapping of ${SYSTEM_KEYS.join(", ")}`, obj.system);
    else {
      for (const [k, v] of Object.entries(obj.system as Record<string, unknown>)) {
        if (!isSystemKey(k)) {
          problems.push(`system.${k}: unknown key (expected one of ${SYSTEM_KEYS.join(", ")})`);
          continue;
        }
        const command = k === "blkid" || k === "rpcNfsd";
        if (command && typeof v === "string" && /^[A-Za-z0-9._/-]+$/.test(v)) system[k] = v;
        else if (command) bad(`system.${k}`, "a command name or path", v);
        else {
          const p = absPath(`system.${k}`, v);
          if (p !== undefined) system[k] = p;
        }
      }
    }
  }

  let maxClockSkewMs = DEFAULT_MAX_CLOCK_SKEW_MS;
  if (obj.maxClockSkew !== undefined) {
    const d = typeof obj.maxClockSkew === "string" ? parseDuration(obj.maxClockSkew) : undefined;
    if (typeof d === "number" && d >= 1000 && d <= 86400e3) maxClockSkewMs = d;
    else bad("maxClockSkew", "a duration from 1s to 1d, like 5m", obj.maxClockSkew);
  }

  if (problems.length > 0 || cluster === undefined || controlDir === undefined || stateDir === undefined) return problems;
  return { file, cluster, controlDir, controlDirIsMountpoint, stateDir, nodes, exports, system, maxClockSkewMs, groups };
}

interface GroupCheck {
  readonly problems: string[];
  readonly bad: (key: string, expected: string, found: unknown) => void;
  readonly name: (key: string, v: unknown) => string | undefined;
  readonly absPath: (key: string, v: unknown) => string | undefined;
  readonly exportDef: (e: unknown, at: string) => ExportDef | undefined;
  /** Every export: the top-level ones, then (as they are read) the groups' inline ones. */
  readonly exports: ExportDef[];
  /** The shared control directory, "" when none is configured. */
  readonly controlDir: string;
}

/** `a` is `b` or below it, on whole components. */
function within(a: string, b: string): boolean {
  return a === b || b === "/" || a.startsWith(`${b}/`);
}

/**
 * The `groups:` list: each group names its control directory and its
 * exports, by name (from `exports:`) or defined inline. Every impossible
 * combination is named with its key.
 */
function validateGroups(raw: unknown, c: GroupCheck): GroupDef[] {
  const groups: GroupDef[] = [];
  const { problems, bad } = c;
  if (raw !== undefined && (!Array.isArray(raw) || raw.length === 0)) {
    bad("groups", "a non-empty list of export groups (name, controlDir, exports)", raw);
    return groups;
  }
  const groupOf = new Map<string, string>();
  for (const [i, g] of ((raw as unknown[] | undefined) ?? []).entries()) {
    const at = `groups[${i}]`;
    if (g === null || typeof g !== "object" || Array.isArray(g)) {
      bad(at, "a mapping with name, controlDir and exports", g);
      continue;
    }
    const x = g as Record<string, unknown>;
    for (const k of Object.keys(x)) if (!GROUP_KEYS.includes(k)) problems.push(`${at}.${k}: unknown key (expected one of ${GROUP_KEYS.join(", ")})`);
    const n = c.name(`${at}.name`, x.name);
    if (n !== undefined && groups.some((o) => o.name === n)) problems.push(`${at}.name: expected a unique group name, found "${n}" twice`);
    const dir = c.absPath(`${at}.controlDir`, x.controlDir);
    let mountpoint = true;
    if (typeof x.controlDirIsMountpoint === "boolean") mountpoint = x.controlDirIsMountpoint;
    else if (x.controlDirIsMountpoint !== undefined) bad(`${at}.controlDirIsMountpoint`, "true or false", x.controlDirIsMountpoint);
    const names: string[] = [];
    if (!Array.isArray(x.exports) || x.exports.length === 0) bad(`${at}.exports`, "a non-empty list of export names, or of exports (name, path, optional nodes)", x.exports);
    else {
      x.exports.forEach((e, j) => {
        const key = `${at}.exports[${j}]`;
        let en: string | undefined;
        if (typeof e === "string") {
          if (c.exports.some((o) => o.name === e)) en = e;
          else bad(key, `the name of an export in exports (${c.exports.map((o) => o.name).join(", ") || "none"}) or an export (name, path)`, e);
        } else en = c.exportDef(e, key)?.name;
        if (en === undefined) return;
        const other = groupOf.get(en);
        if (other !== undefined) problems.push(`${key}: export "${en}" is already in group "${other}": an export can be in one group only`);
        else {
          groupOf.set(en, n ?? at);
          names.push(en);
        }
      });
    }
    if (n === undefined || dir === undefined) continue;
    if (dir === c.controlDir) problems.push(`${at}.controlDir: expected a directory of its own, found "${dir}", the shared controlDir`);
    const twin = groups.find((o) => within(dir, o.controlDir) || within(o.controlDir, dir));
    if (twin) problems.push(`${at}.controlDir: expected a directory of its own, found "${dir}", which ${twin.controlDir === dir ? "is" : "overlaps"} group "${twin.name}"'s controlDir ${twin.controlDir}`);
    groups.push({ name: n, controlDir: dir, controlDirIsMountpoint: mountpoint, exports: names });
  }
  // control directories are never visible to clients, and never hold an export
  for (const [i, g] of groups.entries()) {
    for (const e of c.exports) {
      if (within(g.controlDir, e.path))
        problems.push(`groups[${i}].controlDir: expected a directory outside every exported path, found "${g.controlDir}" inside export "${e.name}" (${e.path}): NFS clients could read and change the journals; put it beside the exported directory`);
      else if (within(e.path, g.controlDir)) problems.push(`groups[${i}].controlDir: expected a directory outside every exported path, found "${g.controlDir}", which holds export "${e.name}" (${e.path})`);
    }
  }
  if (groups.length > 0) {
    const loose = c.exports.filter((e) => !groupOf.has(e.name));
    if (loose.length > 0 && c.controlDir === "")
      problems.push(`controlDir: expected the shared control volume's mount point for the exports in no group (${loose.map((e) => e.name).join(", ")}), found nothing (put them in a group, or set controlDir)`);
    if (loose.length === 0 && groups.length > 0 && c.exports.length === 0) problems.push("exports: expected at least one export, in exports or in a group, found none");
    // an rmtab path belongs to the longest export path: nested exports must share their control directory
    const unitOf = (e: ExportDef) => groupOf.get(e.name) ?? "";
    for (const a of c.exports)
      for (const b of c.exports)
        if (a !== b && within(a.path, b.path) && unitOf(a) !== unitOf(b))
          problems.push(
            `groups: export "${a.name}" (${a.path}) lies inside export "${b.name}" (${b.path}) but ${unitOf(a) ? `is in group "${unitOf(a)}"` : "is in no group"} while "${b.name}" ${unitOf(b) ? `is in group "${unitOf(b)}"` : "is in no group"}: nested exports must be in the same group`,
          );
  }
  return groups;
}

/** One control directory and what rmtabsync does with it: the shared one, or a group's. */
export interface ControlUnit {
  /** The group's name; "shared" for the shared control directory. */
  readonly name: string;
  readonly group?: string;
  /** The configuration as this unit sees it: its controlDir, its exports only. */
  readonly cfg: Config;
}

/**
 * The shared control directory (when configured) and every group's, each
 * with a view of the configuration that holds its own exports only. Without
 * groups, the one unit's view is the configuration itself.
 */
export function controlUnits(cfg: Config): ControlUnit[] {
  if (cfg.group !== undefined) return [{ name: cfg.group, group: cfg.group, cfg }];
  if (cfg.groups.length === 0) return [{ name: "shared", cfg }];
  const grouped = new Set(cfg.groups.flatMap((g) => g.exports));
  const units: ControlUnit[] = [];
  if (cfg.controlDir !== "") units.push({ name: "shared", cfg: { ...cfg, exports: cfg.exports.filter((e) => !grouped.has(e.name)), groups: [] } });
  for (const g of cfg.groups)
    units.push({
      name: g.name,
      group: g.name,
      cfg: {
        ...cfg,
        controlDir: g.controlDir,
        controlDirIsMountpoint: g.controlDirIsMountpoint,
        exports: cfg.exports.filter((e) => g.exports.includes(e.name)),
        groups: [],
        group: g.name,
      },
    });
  return units;
}

/**
 * Where this node keeps its private state for a control directory (marks,
 * local baseline, fold cache): the state directory for the shared one,
 * <stateDir>/rmtabsync.groups/<group> for a group's.
 */
export function unitStateDir(cfg: Pick<Config, "stateDir" | "group">): string {
  return cfg.group === undefined ? cfg.stateDir : join(cfg.stateDir, "rmtabsync.groups", cfg.group);
}

/** Reads, parses and validates the configuration file. */
export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [`(file): cannot read it (${code ?? String(err)})`]);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`),
    );
  }
  const result = validateConfig(doc.toJS(), file);
  if (Array.isArray(result)) throw new ConfigError(file, result);
  return result;
}

export interface Paths {
  readonly rmtab: string;
  readonly etab: string;
  readonly lock: string;
  readonly quarantine: string;
  readonly marker: string;
  readonly journals: string;
}

export function paths(cfg: Pick<Config, "stateDir" | "controlDir">): Paths {
  const control = (name: string) => {
    requireControlDir(cfg.controlDir);
    return join(cfg.controlDir, name);
  };
  return {
    rmtab: join(cfg.stateDir, "rmtab"),
    etab: join(cfg.stateDir, "etab"),
    lock: join(cfg.stateDir, ".rmtab.lock"),
    quarantine: join(cfg.stateDir, "rmtab.quarantine"),
    // without a shared control directory these name nothing: asking for them is an error, never a relative path
    get marker() {
      return control("rmtabsync.cluster");
    },
    get journals() {
      return control("journals");
    },
  };
}

/** A control directory and whether it must be a mount point (a property of each control directory). */
export interface ControlDirSpec {
  readonly dir: string;
  readonly mountpoint: boolean;
}

/** Every export is in a group and nothing named one: never fall back to a relative path. */
function requireControlDir(dir: string): void {
  if (dir === "") throw new UsageError("no shared controlDir is configured (every export is in a group): name a group with --group, or a directory with --control-dir");
}

export function controlDirSpec(cfg: Pick<Config, "controlDir" | "controlDirIsMountpoint">): ControlDirSpec {
  requireControlDir(cfg.controlDir);
  return { dir: cfg.controlDir, mountpoint: cfg.controlDirIsMountpoint };
}

export function journalFile(journalsDir: string, node: string): string {
  return join(journalsDir, `${node}.sqlite`);
}
