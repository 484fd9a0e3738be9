import { Command } from "@commander-js/extra-typings";
import { ExportIndex } from "../core/exports.js";
import { UsageError } from "../errors.js";
import { record, type RecordReport } from "../sync.js";
import { recordUnits, unitsError } from "../units.js";
import { eventJson, printUnits, recordText } from "./format.js";
import { printJson, readGlobals, syncContext, type Runtime } from "./common.js";

export function recordCommand(rt: Runtime) {
  return new Command("record")
    .description("journal what rpc.mountd changed in the local rmtab since the last record/reconcile")
    .option("--lock-timeout <seconds>", "wait at most this long for mountd's rmtab lock", "10")
    .option("--dry-run", "show what would be recorded, write nothing")
    .option("--accept-empty", "journal the lines an rmtab found empty lost as umounts (by default the lines of two or more clients gone at once are taken for a wiped file: held back, and reconcile writes them back)")
    .option(
      "--hosting <export>",
      "treat this export as exported here even if etab no longer lists it (the Pacemaker agent's stop, after exportfs stopped); repeatable",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .action(async (opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const ctx = { ...syncContext({ ...g, lockTimeout: opts.lockTimeout }, rt), acceptEmpty: opts.acceptEmpty === true };
      const index = new ExportIndex(ctx.cfg.exports);
      for (const name of opts.hosting)
        if (!index.named(name)) throw new UsageError(`--hosting: expected one of ${ctx.cfg.exports.map((e) => e.name).join(", ")}, found "${name}"`);
      const exportOf = (p: string) => index.exportOf(p)?.name ?? null;
      const json = (r: RecordReport) => ({
        node: r.node,
        dryRun: r.dryRun,
        first: r.first,
        hosted: r.hosted,
        recorded: r.recorded.map((e) => eventJson(e, exportOf)),
        ignored: r.ignored,
        malformed: r.malformed.map(({ line, text, problem }) => ({ line, text, problem })),
        problems: r.problems,
      });
      if (ctx.cfg.groups.length > 0) {
        const all = await recordUnits(ctx, { dryRun: opts.dryRun === true, hosting: opts.hosting });
        printUnits(rt, g.json === true, all, json, recordText);
        const err = unitsError(all);
        if (err) throw err;
        return;
      }
      const r = await record(ctx, { dryRun: opts.dryRun === true, hosting: opts.hosting });
      if (g.json) printJson(rt, json(r));
      else rt.out(recordText(r));
    });
}
