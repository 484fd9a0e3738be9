// What every command shares: resolving config and node, printing.
import { hostname } from "node:os";
import { controlUnits, DEFAULT_CONFIG_PATH, loadConfig, NAME_RE, type Config } from "../config.js";
import { parseDuration, parseTime } from "../core/time.js";
import { UsageError } from "../errors.js";
import type { SyncContext } from "../sync.js";

export interface GlobalOptions {
  config?: string;
  node?: string;
  json?: boolean;
  debug?: boolean;
}

/** The process's edges, passed in so commands can run in tests. */
export interface Runtime {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly now: () => number;
  readonly hostname: () => string;
}

export const processRuntime: Runtime = {
  env: process.env,
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  now: () => Date.now(),
  hostname: () => hostname(),
};

export function configPath(g: GlobalOptions, rt: Runtime): string {
  return g.config ?? rt.env.RMTABSYNC_CONFIG ?? DEFAULT_CONFIG_PATH;
}

export function loadConfigFor(g: GlobalOptions, rt: Runtime): Config {
  return loadConfig(configPath(g, rt));
}

/** This node's name: -n, else RMTABSYNC_NODE, else the short hostname; it must be a configured node. */
export function nodeName(g: GlobalOptions, rt: Runtime, cfg: Config): string {
  const source = g.node !== undefined ? "--node" : rt.env.RMTABSYNC_NODE ? "RMTABSYNC_NODE" : "hostname";
  const name = g.node ?? (rt.env.RMTABSYNC_NODE || rt.hostname().split(".")[0] || "");
  if (!NAME_RE.test(name)) throw new UsageError(`node name "${name}" (from ${source}) is not a valid name`);
  if (!cfg.nodes.includes(name))
    throw new UsageError(`node "${name}" (from ${source}) is not in the nodes of ${cfg.file} (${cfg.nodes.join(", ")})`);
  return name;
}

export function warner(rt: Runtime): (msg: string) => void {
  return (msg) => rt.err(`rmtabsync: warning: ${msg}\n`);
}

export function syncContext(g: GlobalOptions & { lockTimeout?: string }, rt: Runtime): SyncContext {
  const cfg = loadConfigFor(g, rt);
  return {
    cfg,
    node: nodeName(g, rt, cfg),
    lockTimeoutMs: parseSeconds("--lock-timeout", g.lockTimeout ?? "10"),
    now: rt.now,
    warn: warner(rt),
  };
}

export function parseSeconds(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag}: expected a number of seconds >= 0, found "${v}"`);
  return Math.round(n * 1000);
}

export function timeOption(flag: string, v: string | undefined, nowMs: number): number | undefined {
  if (v === undefined) return undefined;
  const t = parseTime(v, nowMs);
  if (typeof t === "string") throw new UsageError(`${flag}: ${t}`);
  return t;
}

export function durationOption(flag: string, v: string): number {
  const d = parseDuration(v);
  if (typeof d === "string") throw new UsageError(`${flag}: ${d}`);
  return d;
}

export function printJson(rt: Runtime, data: unknown): void {
  rt.out(`${JSON.stringify(data, null, 2)}\n`);
}

/** Renders rows as an aligned text table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
}

/** Reads the global options from commander's untyped record, checking each type. */
export function readGlobals(raw: Record<string, unknown>): GlobalOptions {
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw new UsageError(`--${k}: expected a value`);
    return v;
  };
  return { config: str("config"), node: str("node"), json: raw.json === true, debug: raw.debug === true };
}

/**
 * The configuration as one control directory sees it: `--group NAME`, else
 * the shared one; with no shared one, the only group (else a usage error).
 */
export function unitView(cfg: Config, group: string | undefined): Config {
  if (group === undefined) {
    if (cfg.groups.length === 0 || cfg.group !== undefined) return cfg;
    // the shared unit comes first; without one, a lone group is the only choice
    if (cfg.controlDir !== "" || cfg.groups.length === 1) return controlUnits(cfg)[0]!.cfg;
    return cfg;
  }
  const u = controlUnits(cfg).find((x) => x.group === group);
  if (!u) throw new UsageError(`--group: expected one of ${cfg.groups.map((x) => x.name).join(", ") || "(no groups in " + cfg.file + ")"}, found "${group}"`);
  return u.cfg;
}
