import { Command } from "@commander-js/extra-typings";
import { ExportIndex } from "../core/exports.js";
import { formatHlc } from "../core/hlc.js";
import { checkRange } from "../core/time.js";
import { UsageError } from "../errors.js";
import { eventRows, loadMounted } from "../inspect.js";
import { loadConfigFor, unitView, printJson, readGlobals, table, timeOption, type Runtime } from "./common.js";

export function logCommand(rt: Runtime) {
  return new Command("log")
    .description("the event history of every journal, oldest first (read-only)")
    .option("--since <time>", "events at or after this time (ISO 8601, @epoch, or 2h = two hours ago)")
    .option("--until <time>", "events at or before this time")
    .option("--origin <node>", "events recorded by this node")
    .option("--client <addr>", "events of this client address")
    .option("--export <name>", "events of this export")
    .option("--control-dir <dir>", "read journals from this copy of the control volume instead of the configured one")
    .option("--group <name>", "only this export group's control directory (default: every control directory mounted here)")
    .action((opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const all = loadConfigFor(g, rt);
      const base = opts.group !== undefined ? unitView(all, opts.group) : all;
      // a copy of one control volume: every export is looked up there
      const cfg = opts.controlDir ? { ...base, controlDir: opts.controlDir, groups: [] } : base;
      const index = new ExportIndex(cfg.exports);
      if (opts.export !== undefined && !index.named(opts.export))
        throw new UsageError(`--export: expected one of ${cfg.exports.map((e) => e.name).join(", ")}, found "${opts.export}"`);
      const now = rt.now();
      const since = timeOption("--since", opts.since, now);
      const until = timeOption("--until", opts.until, now);
      const inverted = checkRange(
        since === undefined ? undefined : { flag: "--since", text: opts.since!, ms: since },
        until === undefined ? undefined : { flag: "--until", text: opts.until!, ms: until },
      );
      if (inverted !== undefined) throw new UsageError(inverted);
      const loaded = loadMounted(cfg);
      if (opts.origin !== undefined) {
        const known = new Set([...cfg.nodes, ...loaded.journalNode.values(), ...loaded.events.map((e) => e.node)]);
        if (!known.has(opts.origin)) throw new UsageError(`--origin: no node "${opts.origin}" in the configuration or the journals (${[...known].sort().join(", ")})`);
      }
      const rows = eventRows(loaded.events, index, loaded.journalNode, {
        since,
        until,
        origin: opts.origin,
        client: opts.client,
        export: opts.export,
      });
      for (const w of loaded.warnings) rt.err(`rmtabsync: warning: ${w}\n`);
      for (const p of loaded.problems) rt.err(`rmtabsync: warning: ${p.file}: ${p.problem}\n`);
      if (g.json) {
        printJson(rt, { cluster: cfg.cluster, events: rows, problems: loaded.problems, warnings: loaded.warnings });
        return;
      }
      rt.out(
        table(
          ["TIME", "NODE", "OP", "CLIENT", "PATH", "COUNT", "EXPORT"],
          rows.map((r) => [formatHlc({ wall: Date.parse(r.time), logical: r.logical }), r.node, r.op, r.client, r.path, String(r.count), r.export ?? "-"]),
        ),
      );
      rt.out(`${rows.length} event${rows.length === 1 ? "" : "s"}\n`);
    });
}
