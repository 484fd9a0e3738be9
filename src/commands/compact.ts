import { Command } from "@commander-js/extra-typings";
import { compact, eachMountedUnit, type CompactReport } from "../maintain.js";
import { unitsError } from "../units.js";
import { durationOption, printJson, readGlobals, syncContext, unitView, type Runtime } from "./common.js";

function size(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function line(r: CompactReport, dryRun: boolean): string {
  return `${r.file}: ${dryRun ? "would drop" : "dropped"} ${r.dropped} of ${r.before.events} events older than ${r.cutoff}; size ${size(r.before.bytes)} -> ${size(r.after.bytes)}\n`;
}

export function compactCommand(rt: Runtime) {
  return new Command("compact")
    .description("shrink this node's journal: drop superseded events older than --keep")
    .option("--keep <duration>", "keep every event younger than this (45s, 90m, 12h, 30d, 2w)", "30d")
    .option("--dry-run", "print what would be dropped, write nothing")
    .option("--group <name>", "only this export group's control directory (default: every control directory mounted here; groups served elsewhere are left out)")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const keep = durationOption("--keep", opts.keep);
      const dryRun = opts.dryRun === true;
      const base = syncContext(g, rt);
      const ctx = opts.group !== undefined ? { ...base, cfg: unitView(base.cfg, opts.group) } : base;
      const units = eachMountedUnit(ctx, (uctx) => compact(uctx, keep, { dryRun }));
      if (base.cfg.groups.length === 0) {
        const r = units[0]!.state === "done" ? units[0]!.report : undefined;
        if (!r) return;
        if (g.json) printJson(rt, { dryRun, ...r });
        else rt.out(line(r, dryRun));
        return;
      }
      if (g.json)
        printJson(rt, {
          dryRun,
          groups: units.map((u) =>
            u.state === "done"
              ? { group: u.unit.group ?? null, here: true, ...u.report }
              : u.state === "absent"
                ? { group: u.unit.group ?? null, here: false, reason: u.reason }
                : { group: u.unit.group ?? null, here: true, error: u.reason },
          ),
        });
      else
        for (const u of units) {
          const name = u.unit.group === undefined ? "shared control directory" : `group ${u.unit.name}`;
          if (u.state === "done") rt.out(`${name}: ${line(u.report, dryRun)}`);
          else if (u.state === "absent") rt.out(`${name}: not mounted here, left out (${u.reason})\n`);
        }
      const err = unitsError({ node: ctx.node, dryRun, units, released: [], rmtab: "" });
      if (err) throw err;
    });
}
