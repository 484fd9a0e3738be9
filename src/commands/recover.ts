import { Command } from "@commander-js/extra-typings";
import { recover } from "../recover.js";
import { loadConfigFor, printJson, readGlobals, unitView, warner, type Runtime } from "./common.js";

export function recoverCommand(rt: Runtime) {
  return new Command("recover")
    .description("merge another copy of the control volume (split-brain victim, backup) into ours; run on a quiet cluster")
    .requiredOption("--from <dir>", "the other copy of the control volume (may be read-only)")
    .option("--dry-run", "print what would be merged, write nothing")
    .option("--group <name>", "the export group whose control volume split (default: the shared control volume)")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const cfg = unitView(loadConfigFor(g, rt), opts.group);
      const actions = recover(cfg, opts.from, { dryRun: opts.dryRun === true, nowMs: rt.now(), warn: warner(rt) });
      const merged = actions.filter((a) => a.action !== "none" && a.action !== "unreadable");
      if (g.json) {
        printJson(rt, { from: opts.from, dryRun: opts.dryRun === true, merged: merged.length, actions });
        return;
      }
      const verb = opts.dryRun ? "would merge" : "merged";
      for (const a of actions) {
        if (a.action === "none") continue;
        if (a.action === "unreadable") rt.out(`! ${a.from}: ${a.detail} (skipped)\n`);
        else rt.out(`${verb}: ${a.events} event${a.events === 1 ? "" : "s"} of node ${a.node}: ${a.detail}\n`);
      }
      rt.out(merged.length === 0 ? `nothing to merge from ${opts.from}\n` : `${merged.length} journal${merged.length === 1 ? "" : "s"} ${opts.dryRun ? "would change" : "changed"}\n`);
    });
}
