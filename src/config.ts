// Configuration: one YAML file, identical on every node.
// validateConfig is pure; loadConfig reads the file.
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { parseDocument } from "yaml";
import type { ExportDef } from "./core/exports.js";
import { ConfigError } from "./errors.js";
import { parseDuration } from "./core/time.js";

export const DEFAULT_CONFIG_PATH = "/etc/rmtabsync/config.yaml";

export interface Config {
  readonly file: string;
  readonly cluster: string;
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
  readonly mountinfo: string;
  readonly nfsServerEnabled: string;
  readonly blkid: string;
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
  mountinfo: "/proc/self/mountinfo",
  nfsServerEnabled: "/etc/systemd/system/multi-user.target.wants/nfs-server.service",
  blkid: "blkid",
};

/** Names usable as file names and in every tool that shows them. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const TOP_KEYS = ["cluster", "controlDir", "controlDirIsMountpoint", "stateDir", "nodes", "exports", "system", "maxClockSkew"];
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
  for (const k of Object.keys(obj)) if (!TOP_KEYS.includes(k)) problems.push(`${k}: unknown key (expected one of ${TOP_KEYS.join(", ")})`);

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
  const controlDir = absPath("controlDir", obj.controlDir);
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
  if (!Array.isArray(obj.exports)) bad("exports", "a list of exports (name, path, optional nodes)", obj.exports);
  else {
    obj.exports.forEach((e, i) => {
      const at = `exports[${i}]`;
      if (e === null || typeof e !== "object" || Array.isArray(e)) {
        bad(at, "a mapping with name and path", e);
        return;
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
      if (n !== undefined && p !== undefined) exports.push({ name: n, path: p, nodes: en });
    });
  }

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
        if (k === "blkid" && typeof v === "string" && /^[A-Za-z0-9._/-]+$/.test(v)) system[k] = v;
        else if (k === "blkid") bad("system.blkid", "a command name or path", v);
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
  return { file, cluster, controlDir, controlDirIsMountpoint, stateDir, nodes, exports, system, maxClockSkewMs };
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
  return {
    rmtab: join(cfg.stateDir, "rmtab"),
    etab: join(cfg.stateDir, "etab"),
    lock: join(cfg.stateDir, ".rmtab.lock"),
    quarantine: join(cfg.stateDir, "rmtab.quarantine"),
    marker: join(cfg.controlDir, "rmtabsync.cluster"),
    journals: join(cfg.controlDir, "journals"),
  };
}

/** A control directory and whether it must be a mount point (a property of each control directory). */
export interface ControlDirSpec {
  readonly dir: string;
  readonly mountpoint: boolean;
}

export function controlDirSpec(cfg: Pick<Config, "controlDir" | "controlDirIsMountpoint">): ControlDirSpec {
  return { dir: cfg.controlDir, mountpoint: cfg.controlDirIsMountpoint };
}

export function journalFile(journalsDir: string, node: string): string {
  return join(journalsDir, `${node}.sqlite`);
}
