import { Command } from "@commander-js/extra-typings";
import { compact } from "../maintain.js";
import { durationOption, printJson, readGlobals, syncContext, type Runtime } from "./common.js";

function size(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

export function compactCommand(rt: Runtime) {
  return new Command("compact")
    .description("shrink this node's journal: drop superseded events older than --keep")
    .option("--keep <duration>", "keep every event younger than this (45s, 90m, 12h, 30d, 2w)", "30d")
    .option("--dry-run", "print what would be dropped, write nothing")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const keep = durationOption("--keep", opts.keep);
      const ctx = syncContext(g, rt);
      const r = compact(ctx, keep, { dryRun: opts.dryRun === true });
      if (g.json) printJson(rt, { dryRun: opts.dryRun === true, ...r });
      else
        rt.out(
          `${r.file}: ${opts.dryRun ? "would drop" : "dropped"} ${r.dropped} of ${r.before.events} events older than ${r.cutoff}; ` +
            `size ${size(r.before.bytes)} -> ${size(r.after.bytes)}\n`,
        );
    });
}
