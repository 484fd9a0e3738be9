import { existsSync } from "node:fs";
import { Command } from "@commander-js/extra-typings";
import { controlUnits, journalFile, paths, type Config, type ControlUnit } from "../config.js";
import { EXIT, errorMessage, ExitError, UsageError } from "../errors.js";
import { initControl } from "../io/control.js";
import { OwnJournal } from "../io/journal.js";
import { cleanTempJournals } from "../io/temp-journals.js";
import { volumeIdentity } from "../io/volume.js";
import { loadConfigFor, nodeName, printJson, readGlobals, warner, type Runtime } from "./common.js";

interface Initialised {
  readonly created: string[];
  readonly markerId: string | undefined;
  readonly journal: string;
  readonly journalId: string;
}

function initOne(cfg: Config, node: string, rt: Runtime, force: boolean): Initialised {
  const now = new Date(rt.now());
  const { created, marker } = initControl(cfg, now, { force });
  cleanTempJournals(paths(cfg).journals, rt.now(), warner(rt));
  const file = journalFile(paths(cfg).journals, node);
  const existed = existsSync(file);
  const j = OwnJournal.open(file, { cluster: cfg.cluster, node, create: true, now });
  const meta = j.meta;
  j.close();
  if (!existed) created.push(file);
  return { created, markerId: marker.id, journal: file, journalId: meta.journalId };
}

/** A group's volume is mounted only where the group runs: elsewhere there is nothing to initialise. */
function notHere(u: ControlUnit, force: boolean): string | undefined {
  if (u.group === undefined) return undefined;
  const dir = u.cfg.controlDir;
  if (!existsSync(dir)) return `${dir} does not exist here (the group's volume is not mounted): run 'rmtabsync init' where the group runs`;
  if (u.cfg.controlDirIsMountpoint && !force && !volumeIdentity(dir, u.cfg.system.mountinfo).mountpoint)
    return `${dir} is not a mount point here (the group's volume is not mounted): run 'rmtabsync init' where the group runs`;
  return undefined;
}

export function initCommand(rt: Runtime) {
  return new Command("init")
    .description("create the control volume layout, its cluster marker and this node's journal (idempotent); with groups, in every control directory mounted here")
    .option("--force", "initialise although the control directory is not a mount point, or not the volume this node was initialised on before")
    .option("--group <name>", "only this export group's control directory")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const cfg = loadConfigFor(g, rt);
      const node = nodeName(g, rt, cfg);
      const force = opts.force === true;
      if (cfg.groups.length === 0) {
        if (opts.group !== undefined) throw new UsageError(`--group: ${cfg.file} defines no groups, found "${opts.group}"`);
        const r = initOne(cfg, node, rt, force);
        if (g.json) printJson(rt, { node, cluster: cfg.cluster, controlDir: cfg.controlDir, markerId: r.markerId, journal: r.journal, journalId: r.journalId, created: r.created });
        else {
          for (const c of r.created) rt.out(`created ${c}\n`);
          rt.out(`${r.created.length === 0 ? "already initialised" : "initialised"}: cluster ${cfg.cluster}, node ${node}, journal ${r.journal}\n`);
        }
        return;
      }
      let units = controlUnits(cfg);
      if (opts.group !== undefined) {
        units = units.filter((u) => u.group === opts.group);
        if (units.length === 0) throw new UsageError(`--group: expected one of ${cfg.groups.map((x) => x.name).join(", ")}, found "${opts.group}"`);
      }
      const rows: { unit: string; group: string | null; controlDir: string; state: string; reason?: string; created?: string[]; journal?: string; markerId?: string }[] = [];
      let refused: ExitError | undefined;
      for (const u of units) {
        const base = { unit: u.name, group: u.group ?? null, controlDir: u.cfg.controlDir };
        const skip = notHere(u, force);
        if (skip !== undefined) {
          rows.push({ ...base, state: opts.group !== undefined ? "refused" : "skipped", reason: skip });
          if (opts.group !== undefined) refused = new ExitError(`group ${u.name}: ${skip}`, EXIT.refused);
          continue;
        }
        try {
          const r = initOne(u.cfg, node, rt, force);
          rows.push({ ...base, state: r.created.length === 0 ? "initialised before" : "initialised", created: r.created, journal: r.journal, ...(r.markerId ? { markerId: r.markerId } : {}) });
        } catch (err) {
          const e = err instanceof ExitError ? err : new ExitError(errorMessage(err), EXIT.failure);
          rows.push({ ...base, state: e.exitCode === EXIT.refused ? "refused" : "failed", reason: errorMessage(e) });
          if (!refused || e.exitCode === EXIT.refused) refused = new ExitError(`${u.group ? `group ${u.name}: ` : ""}${errorMessage(e)}`, e.exitCode);
        }
      }
      if (g.json) printJson(rt, { node, cluster: cfg.cluster, units: rows });
      else
        for (const r of rows) {
          for (const c of r.created ?? []) rt.out(`created ${c}\n`);
          rt.out(`${r.group === null ? "shared" : `group ${r.group}`} (${r.controlDir}): ${r.state}${r.reason ? `: ${r.reason}` : r.journal ? `, journal ${r.journal}` : ""}\n`);
        }
      if (refused) throw refused;
    });
}
