import { Command } from "@commander-js/extra-typings";
import { describeProblems } from "../io/control.js";
import { ExportIndex } from "../core/exports.js";
import { UsageError } from "../errors.js";
import type { LineChange } from "../core/plan.js";
import { reconcile, type ReconcileReport } from "../sync.js";
import { reconcileUnits, unitsError } from "../units.js";
import { eventJson, lineJson, listed, printUnits, recordText } from "./format.js";
import { printJson, readGlobals, syncContext, type Runtime } from "./common.js";

export function reconcileCommand(rt: Runtime) {
  return new Command("reconcile")
    .description("record, fold every journal, and rewrite the local rmtab under mountd's lock")
    .option("--lock-timeout <seconds>", "wait at most this long for mountd's rmtab lock, then exit 3", "10")
    .option("--dry-run", "print the change, write nothing")
    .option("--accept-empty", "journal the lines an rmtab found empty lost as umounts (by default the lines of two or more clients gone at once are taken for a wiped file: held back, and reconcile writes them back)")
    .option(
      "--hosting <export>",
      "treat this export as exported here even if etab does not list it yet (the Pacemaker agent's start, before exportfs); repeatable",
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
      if (ctx.cfg.groups.length > 0) {
        const all = await reconcileUnits(ctx, { dryRun: opts.dryRun === true, hosting: opts.hosting });
        for (const u of all.units)
          if (u.state === "done" && u.report.addOnly) ctx.warn(`${u.unit.name}: add-only mode, no entry was removed: ${describeProblems(u.report.problems)}`);
        printUnits(rt, g.json === true, all, (r) => reconcileJson(r, exportOf), reconcileText);
        const err = unitsError(all);
        if (err) throw err;
        return;
      }
      const r = await reconcile(ctx, { dryRun: opts.dryRun === true, hosting: opts.hosting });
      if (r.addOnly) ctx.warn(`add-only mode, no entry was removed: ${describeProblems(r.problems)}`);
      if (g.json) printJson(rt, reconcileJson(r, exportOf));
      else rt.out(reconcileText(r));
    });
}

function reconcileJson(r: ReconcileReport, exportOf: (p: string) => string | null) {
  return {
    node: r.node,
    dryRun: r.dryRun,
    rmtab: r.rmtab,
    written: r.written,
    addOnly: r.addOnly,
    hosted: r.hosted,
    entries: r.entries,
    recorded: r.recorded.map((e) => eventJson(e, exportOf)),
    ignored: r.ignored,
    added: r.added.map(lineJson),
    removed: r.removed.map(lineJson),
    changed: r.changed.map(lineJson),
    heldBack: r.heldBack.map(lineJson),
    unwritable: r.unwritable,
    quarantined: r.quarantined.map(({ line, text, problem }) => ({ line, text, problem })),
    malformed: r.malformed.map(({ line, text, problem }) => ({ line, text, problem })),
    problems: r.problems,
  };
}

function reconcileText(r: ReconcileReport): string {
  let text = recordText(r).replace(/^no changes to record.*\n/m, "");
  const verb = r.dryRun ? "would " : "";
  const byExport = (c: LineChange) => c.export;
  const lines = [
    ...listed(r.added, (c) => `${verb}add     ${c.client} ${c.path} count ${c.to} (${c.export})`, r.dryRun ? "lines to add" : "lines added", byExport),
    ...listed(r.changed, (c) => `${verb}set     ${c.client} ${c.path} count ${c.from} -> ${c.to} (${c.export})`, r.dryRun ? "counts to set" : "counts set", byExport),
    ...listed(r.removed, (c) => `${verb}remove  ${c.client} ${c.path} (${c.export})`, r.dryRun ? "lines to remove" : "lines removed", byExport),
    ...listed(r.heldBack, (c) => `kept    ${c.client} ${c.path} (add-only: would be ${c.to === 0 ? "removed" : `count ${c.to}`})`, "lines kept (add-only)", byExport),
    ...listed(r.unwritable, (u) => `! cannot write ${u.client} ${u.path}: ${u.problem}`, "entries that cannot be written"),
    ...listed(r.quarantined, (q) => `${r.dryRun ? "would quarantine" : "quarantined"} rmtab line ${q.line} (${q.problem})`, "lines quarantined"),
  ];
  for (const l of lines) text += `${l}\n`;
  text += r.written
    ? `${r.rmtab} rewritten: ${r.entries} entries\n`
    : `${r.rmtab} ${r.dryRun ? "not written (dry run)" : "unchanged"}: ${r.entries} entries\n`;
  return text;
}
