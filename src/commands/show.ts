import { Command } from "@commander-js/extra-typings";
import { ExportIndex } from "../core/exports.js";
import { formatHlc } from "../core/hlc.js";
import { UsageError } from "../errors.js";
import { factsViews, loadMounted, tableRows } from "../inspect.js";
import { factsText } from "./facts-format.js";
import { loadConfigFor, unitView, printJson, readGlobals, table, timeOption, type Runtime } from "./common.js";

export function showCommand(rt: Runtime) {
  return new Command("show")
    .description("the cluster-wide mount table, from the journals alone (read-only; works on any copy of the control volume)")
    .option("--export <name>", "only this export")
    .option("--client <addr>", "only this client address")
    .option("--at <time>", "the table as it was at this time (ISO 8601, @epoch, or 2h = two hours ago)")
    .option("--control-dir <dir>", "read journals from this copy of the control volume instead of the configured one")
    .option("--group <name>", "only this export group's control directory (default: every control directory mounted here)")
    .option("--facts", "print each node's published facts (fsid, filesystem, scope, ports...) instead of the mounts")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const all = loadConfigFor(g, rt);
      const base = opts.group !== undefined ? unitView(all, opts.group) : all;
      // a copy of one control volume: every export is looked up there
      const cfg = opts.controlDir ? { ...base, controlDir: opts.controlDir, groups: [] } : base;
      if (opts.facts) {
        const views = factsViews(cfg);
        if (g.json) printJson(rt, { cluster: cfg.cluster, nodes: views });
        else rt.out(factsText(views));
        return;
      }
      const index = new ExportIndex(cfg.exports);
      if (opts.export !== undefined && !index.named(opts.export))
        throw new UsageError(`--export: expected one of ${cfg.exports.map((e) => e.name).join(", ")}, found "${opts.export}"`);
      const at = timeOption("--at", opts.at, rt.now());
      const loaded = loadMounted(cfg);
      const rows = tableRows(loaded.events, index, { export: opts.export, client: opts.client, at });
      if (at !== undefined && loaded.compactedBefore !== undefined && at < loaded.compactedBefore.wall)
        loaded.warnings.push(
          `history before ${new Date(loaded.compactedBefore.wall).toISOString()} was compacted in ${loaded.compactedBefore.file}: the table at ${new Date(at).toISOString()} may be incomplete`,
        );
      for (const w of loaded.warnings) rt.err(`rmtabsync: warning: ${w}\n`);
      for (const p of loaded.problems) rt.err(`rmtabsync: warning: ${p.file}: ${p.problem}\n`);
      if (g.json) {
        printJson(rt, {
          cluster: cfg.cluster,
          at: at === undefined ? null : new Date(at).toISOString(),
          mounts: rows,
          problems: loaded.problems,
          warnings: loaded.warnings,
        });
        return;
      }
      rt.out(
        table(
          ["EXPORT", "CLIENT", "PATH", "COUNT", "NODE", "TIME"],
          rows.map((r) => [r.export ?? "-", r.client, r.path, String(r.count), r.node, formatHlc({ wall: Date.parse(r.time), logical: r.logical })]),
        ),
      );
      rt.out(`${rows.length} mount${rows.length === 1 ? "" : "s"}${at === undefined ? "" : ` at ${new Date(at).toISOString()}`}\n`);
    });
}
