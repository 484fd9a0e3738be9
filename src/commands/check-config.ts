import { Command } from "@commander-js/extra-typings";
import { controlUnits, journalFile, loadConfig, paths, unitStateDir, type Config } from "../config.js";
import { ConfigError, ExitError, EXIT, UsageError, errorMessage } from "../errors.js";
import { localBaselineFile, localEditsFile } from "../io/local-baseline.js";
import { marksFile } from "../io/marks.js";
import { SPOOL_NAME } from "../io/spool.js";
import { volumeRecordFile } from "../io/volume.js";
import { join } from "node:path";
import { configPath, nodeName, printJson, readGlobals, type Runtime } from "./common.js";

/** The settings in force after defaults, and the files they lead to. */
export function resolvedSettings(cfg: Config, node: string) {
  const p = paths(cfg);
  // without a shared control directory (every export in a group) these name nothing
  const shared = cfg.controlDir !== "";
  return {
    file: cfg.file,
    node,
    cluster: cfg.cluster,
    controlDir: cfg.controlDir,
    controlDirIsMountpoint: cfg.controlDirIsMountpoint,
    stateDir: cfg.stateDir,
    nodes: cfg.nodes,
    exports: cfg.exports.map((e) => ({ name: e.name, path: e.path, nodes: e.nodes })),
    maxClockSkewSeconds: cfg.maxClockSkewMs / 1000,
    system: cfg.system,
    files: {
      rmtab: p.rmtab,
      etab: p.etab,
      lock: p.lock,
      quarantine: p.quarantine,
      marks: marksFile(cfg.stateDir),
      baseline: localBaselineFile(cfg.stateDir),
      baselineEdits: localEditsFile(cfg.stateDir),
      volume: volumeRecordFile(cfg.stateDir),
      spool: join(cfg.stateDir, SPOOL_NAME),
      ...(shared ? { marker: p.marker, journals: p.journals, journal: journalFile(p.journals, node) } : {}),
    },
    groups: controlUnits(cfg).flatMap((u) => {
      if (u.group === undefined) return [];
      const g = paths(u.cfg);
      return [
        {
          name: u.name,
          controlDir: u.cfg.controlDir,
          controlDirIsMountpoint: u.cfg.controlDirIsMountpoint,
          exports: u.cfg.exports.map((e) => e.name),
          files: { state: unitStateDir(u.cfg), marker: g.marker, journals: g.journals, journal: journalFile(g.journals, node) },
        },
      ];
    }),
  };
}

function text(s: ReturnType<typeof resolvedSettings>): string {
  const kv = (k: string, v: string) => `${k.padEnd(24)} ${v}\n`;
  let out = `${s.file}: valid\n`;
  out += kv("cluster", s.cluster);
  out += kv("node", `${s.node} (of ${s.nodes.join(", ")})`);
  if (s.controlDir !== "") out += kv("controlDir", `${s.controlDir}${s.controlDirIsMountpoint ? " (must be a mount point)" : " (may be a plain directory)"}`);
  else out += kv("controlDir", "(none: every export is in a group)");
  out += kv("stateDir", s.stateDir);
  out += kv("maxClockSkew", `${s.maxClockSkewSeconds} s`);
  for (const e of s.exports) out += kv(`export ${e.name}`, `${e.path} on ${e.nodes.join(", ")}`);
  for (const [k, v] of Object.entries(s.system)) out += kv(`system.${k}`, v);
  for (const [k, v] of Object.entries(s.files)) out += kv(`file ${k}`, v);
  for (const gr of s.groups) {
    out += kv(`group ${gr.name}`, `${gr.exports.join(", ")}; controlDir ${gr.controlDir}${gr.controlDirIsMountpoint ? " (must be a mount point)" : " (may be a plain directory)"}`);
    for (const [k, v] of Object.entries(gr.files)) out += kv(`group ${gr.name} ${k}`, v);
  }
  return out;
}

export function checkConfigCommand(rt: Runtime) {
  return new Command("check-config")
    .description("validate the configuration file and print the settings in force (defaults filled in) and the files they name; exit 2 naming every problem")
    .option("--export <name>", "also check that this export is configured (the Pacemaker agent's validate-all)")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const file = configPath(g, rt);
      let settings: ReturnType<typeof resolvedSettings>;
      try {
        const cfg = loadConfig(file);
        const node = nodeName(g, rt, cfg);
        if (opts.export !== undefined) {
          const e = cfg.exports.find((x) => x.name === opts.export);
          if (e === undefined) throw new UsageError(`--export: expected one of ${cfg.exports.map((x) => x.name).join(", ")}, found "${opts.export}"`);
        }
        settings = resolvedSettings(cfg, node);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        const problems = err instanceof ConfigError ? [...err.problems] : [errorMessage(err)];
        if (g.json) {
          printJson(rt, { valid: false, file, problems });
          throw new ExitError("", EXIT.usage);
        }
        throw err;
      }
      if (g.json) printJson(rt, { valid: true, ...settings });
      else rt.out(text(settings));
    });
}
