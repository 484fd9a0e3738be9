import { Command } from "@commander-js/extra-typings";
import { hlcJson } from "../core/hlc.js";
import { ExportIndex } from "../core/exports.js";
import { UsageError } from "../errors.js";
import { forget } from "../maintain.js";
import { printJson, readGlobals, syncContext, type Runtime } from "./common.js";

export function forgetCommand(rt: Runtime) {
  return new Command("forget")
    .description("remove a client's stale entries cluster-wide (e.g. a decommissioned hypervisor that never unmounted); every node's next reconcile drops them")
    .requiredOption("--client <addr>", "client address as in rmtab (IPv6 with ':')")
    .option("--export <name>", "only this export")
    .option("--path <path>", "only this exact path")
    .option("--dry-run", "print what would be forgotten, write nothing")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      if (opts.export !== undefined && opts.path !== undefined) throw new UsageError("--export and --path exclude each other");
      const ctx = syncContext(g, rt);
      const r = forget(ctx, { client: opts.client, export: opts.export, path: opts.path, dryRun: opts.dryRun === true });
      const index = new ExportIndex(ctx.cfg.exports);
      const rows = r.forgotten.map((e) => ({ ...hlcJson(e), node: e.node, op: e.op, client: e.client, path: e.path, count: e.count, export: index.exportOf(e.path)?.name ?? null }));
      for (const p of r.problems) ctx.warn(`${p.file}: ${p.problem}`);
      if (g.json) printJson(rt, { dryRun: opts.dryRun === true, forgotten: rows, problems: r.problems });
      else for (const e of rows) rt.out(`${opts.dryRun ? "would forget" : "forgot"} ${e.client} ${e.path} (${e.export ?? "-"})\n`);
    });
}
