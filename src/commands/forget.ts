import { Command } from "@commander-js/extra-typings";
import { hlcJson } from "../core/hlc.js";
import { ExportIndex } from "../core/exports.js";
import { UsageError } from "../errors.js";
import { eachMountedUnit, forget, nothingToForget, unitOfExport } from "../maintain.js";
import { unitsError } from "../units.js";
import { printJson, readGlobals, syncContext, unitView, type Runtime } from "./common.js";

export function forgetCommand(rt: Runtime) {
  return new Command("forget")
    .description("remove a client's stale entries cluster-wide (e.g. a decommissioned hypervisor that never unmounted); every node's next reconcile drops them")
    .requiredOption("--client <addr>", "client address as in rmtab (IPv6 with ':')")
    .option("--export <name>", "only this export")
    .option("--path <path>", "only this exact path")
    .option("--group <name>", "only this export group's control directory (default: the export's group with --export, else every control directory mounted here; run it also where the other groups are served)")
    .option("--dry-run", "print what would be forgotten, write nothing")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      if (opts.export !== undefined && opts.path !== undefined) throw new UsageError("--export and --path exclude each other");
      const base = syncContext(g, rt);
      const cfg = opts.group !== undefined ? unitView(base.cfg, opts.group) : opts.export !== undefined ? unitOfExport(base.cfg, opts.export) : base.cfg;
      const ctx = { ...base, cfg };
      const dryRun = opts.dryRun === true;
      const sel = { client: opts.client, export: opts.export, path: opts.path, dryRun };
      const units = eachMountedUnit(ctx, (uctx) => forget(uctx, sel));
      const index = new ExportIndex(base.cfg.exports);
      const done = units.flatMap((u) => (u.state === "done" ? [{ unit: u.unit, r: u.report }] : []));
      const rows = done.flatMap(({ unit, r }) =>
        r.forgotten.map((e) => ({
          ...hlcJson(e),
          node: e.node,
          op: e.op,
          client: e.client,
          path: e.path,
          count: e.count,
          export: index.exportOf(e.path)?.name ?? null,
          ...(base.cfg.groups.length > 0 ? { group: unit.group ?? null } : {}),
        })),
      );
      const problems = done.flatMap(({ r }) => r.problems);
      for (const p of problems) ctx.warn(`${p.file}: ${p.problem}`);
      for (const u of units) if (u.state === "absent") ctx.warn(`group ${u.unit.name}: not mounted here, left out: run forget also on the node that serves it (${u.reason})`);
      // a group that failed is reported after what the others did
      const err = unitsError({ node: ctx.node, dryRun, units, released: [], rmtab: "" });
      if (rows.length === 0) throw err ?? nothingToForget(sel);
      if (g.json) printJson(rt, { dryRun, forgotten: rows, problems });
      else for (const e of rows) rt.out(`${dryRun ? "would forget" : "forgot"} ${e.client} ${e.path} (${e.export ?? "-"})${e.group === undefined ? "" : e.group === null ? " in the shared control directory" : ` in group ${e.group}`}\n`);
      if (err) throw err;
    });
}
