import { existsSync } from "node:fs";
import { Command } from "@commander-js/extra-typings";
import { journalFile, paths } from "../config.js";
import { initControl } from "../io/control.js";
import { OwnJournal } from "../io/journal.js";
import { cleanTempJournals } from "../io/temp-journals.js";
import { loadConfigFor, nodeName, printJson, readGlobals, warner, type Runtime } from "./common.js";

export function initCommand(rt: Runtime) {
  return new Command("init")
    .description("create the control volume layout, its cluster marker and this node's journal (idempotent)")
    .option("--force", "initialise although the control directory is not a mount point, or not the volume this node was initialised on before")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const cfg = loadConfigFor(g, rt);
      const node = nodeName(g, rt, cfg);
      const now = new Date(rt.now());
      const { created, marker } = initControl(cfg, now, { force: opts.force === true });
      cleanTempJournals(paths(cfg).journals, rt.now(), warner(rt));
      const file = journalFile(paths(cfg).journals, node);
      const existed = existsSync(file);
      const j = OwnJournal.open(file, { cluster: cfg.cluster, node, create: true, now });
      const meta = j.meta;
      j.close();
      if (!existed) created.push(file);
      if (g.json) printJson(rt, { node, cluster: cfg.cluster, controlDir: cfg.controlDir, markerId: marker.id, journal: file, journalId: meta.journalId, created });
      else {
        for (const c of created) rt.out(`created ${c}\n`);
        rt.out(`${created.length === 0 ? "already initialised" : "initialised"}: cluster ${cfg.cluster}, node ${node}, journal ${file}\n`);
      }
    });
}
