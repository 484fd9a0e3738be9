import { Command } from "@commander-js/extra-typings";
import { formatAge, evaluateStatus, STATE_CODE, type Finding, type JournalFact, type State, type StatusFacts } from "../core/status.js";
import { ExportIndex } from "../core/exports.js";
import { errorMessage, StatusExit } from "../errors.js";
import { pluginLine, pluginUnknown, type Perf } from "./plugin.js";
import { gatherStatus } from "../status.js";
import type { SyncContext } from "../sync.js";
import { durationOption, printJson, readGlobals, syncContext, table, unitView, type Runtime } from "./common.js";
import { controlUnits, paths, type ControlUnit } from "../config.js";
import { readMarker } from "../io/control.js";
import { spoolRouting } from "../units.js";
import { readHosted } from "../sync.js";

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function ageSeconds(now: number, ms: number | undefined): number | null {
  return ms === undefined ? null : Math.round((now - ms) / 1000);
}

function journalJson(j: JournalFact, now: number) {
  return {
    node: j.node,
    file: j.file,
    own: j.own,
    present: j.present,
    readable: j.present && j.problem === undefined,
    problem: j.problem ?? null,
    events: j.events ?? null,
    lastEvent: j.lastEvent ? { time: iso(j.lastEvent.wall), op: j.lastEvent.op, client: j.lastEvent.client, path: j.lastEvent.path, count: j.lastEvent.count } : null,
    ageSeconds: ageSeconds(now, j.lastEvent?.wall),
  };
}

/** Performance data: journals, events, rmtab entries, drift, and the ages of the last record and reconcile. */
export function statusPerf(f: StatusFacts): Perf[] {
  const readable = f.journals.filter((j) => j.present && j.problem === undefined);
  const rmtab = f.rmtab !== undefined && "ok" in f.rmtab ? f.rmtab.ok : undefined;
  const age = (ms: number | undefined) => (ms === undefined ? undefined : Math.max(0, Math.round((f.now - ms) / 1000)));
  return [
    { label: "journals", value: f.journals.length, min: 0 },
    { label: "journals_unreadable", value: f.journals.length - readable.length, warn: 0, min: 0 },
    { label: "events", value: f.marker.kind === "ok" ? readable.reduce((n, j) => n + (j.events ?? 0), 0) : undefined, min: 0 },
    { label: "entries", value: rmtab?.entries, min: 0 },
    { label: "drift", value: rmtab && rmtab.add + rmtab.remove + rmtab.change, warn: 0, min: 0 },
    { label: "last_record_age", value: age(f.lastRecord), uom: "s", min: 0 },
    { label: "last_reconcile_age", value: age(f.lastReconcile), uom: "s", warn: Math.round(f.staleAfterMs / 1000), min: 0 },
  ];
}

function statusText(f: StatusFacts, ev: ReturnType<typeof evaluateStatus>): string {
  return `${statusHead(f, ev)}${statusBody(f, ev.findings)}`;
}

function statusHead(f: StatusFacts, ev: ReturnType<typeof evaluateStatus>): string {
  const counts = (["CRITICAL", "UNKNOWN", "WARNING"] as const)
    .map((s) => [s, ev.findings.filter((x) => x.state === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s.toLowerCase()}`);
  return pluginLine(ev.state, `${ev.findings[0]?.message ?? "rmtab and journals in order"}${counts.length > 1 ? ` (${counts.join(", ")})` : ""}`, statusPerf(f));
}

/** Everything after the plugin line; `findings` listed at the end (none: left out). */
function statusBody(f: StatusFacts, findings: readonly Finding[], opts: { nodeLine?: boolean } = {}): string {
  const out: string[] = [];
  if (opts.nodeLine !== false) out.push(`node ${f.node}, cluster ${f.cluster}${f.export ? `, export ${f.export} ${f.exportHosted ? "exported here" : "not exported here"}` : ""}`);
  const marker =
    f.marker.kind === "ok" ? "marker ok" : f.marker.kind === "missing" ? "NO MARKER" : f.marker.kind === "foreign" ? `marker of cluster ${f.marker.cluster}` : "marker unreadable";
  out.push(`control volume ${f.controlDir}: ${marker}${f.controlMounted === undefined ? ", missing" : f.controlMounted ? ", mounted" : ", not a mount point"}`);
  if (f.journals.length > 0) {
    out.push("");
    out.push(
      table(
        ["NODE", "EVENTS", "LAST EVENT", "AGE", "JOURNAL"],
        f.journals.map((j) => [
          j.node + (j.own ? "*" : ""),
          j.events === undefined ? "-" : String(j.events),
          j.lastEvent ? `${iso(j.lastEvent.wall)} ${j.lastEvent.op} ${j.lastEvent.client} ${j.lastEvent.path}` : "-",
          j.lastEvent ? formatAge(f.now - j.lastEvent.wall) : "-",
          !j.present ? "missing" : (j.problem ?? "ok"),
        ]),
      ).trimEnd(),
    );
    out.push("");
  }
  const when = (ms: number | undefined) => (ms === undefined ? "never" : `${iso(ms)} (${formatAge(f.now - ms)} ago)`);
  if (f.marker.kind === "ok") out.push(`last record ${when(f.lastRecord)}, last reconcile ${when(f.lastReconcile)}`);
  if (f.rmtab !== undefined) {
    if ("error" in f.rmtab) out.push(`rmtab: not checked (${f.rmtab.error})`);
    else {
      const r = f.rmtab.ok;
      const n = r.add + r.remove + r.change;
      out.push(
        `rmtab${f.export ? ` (export ${f.export})` : ""}: ${n === 0 ? "matches the journals" : `differs: ${r.add} to add, ${r.remove} to remove, ${r.change} to change`}${r.addOnly ? ", reconcile is add-only" : ""}${r.heldBack ? ` (${r.heldBack} removal(s) held back)` : ""}`,
      );
    }
  }
  if (f.quarantined > 0) out.push(`rmtab.quarantine: ${f.quarantined} line(s)`);
  for (const x of findings) out.push(`${x.state} ${x.id}: ${x.message}`);
  return out.join("\n") + "\n";
}

function statusJson(facts: StatusFacts, ev: ReturnType<typeof evaluateStatus>) {
  return {
    state: ev.state,
    code: STATE_CODE[ev.state],
    node: facts.node,
    cluster: facts.cluster,
    export: facts.export ?? null,
    exportHosted: facts.exportHosted ?? null,
    controlVolume: {
      dir: facts.controlDir,
      mountPoint: facts.controlMounted ?? null,
      marker: facts.marker.kind,
      markerCluster: "cluster" in facts.marker ? facts.marker.cluster : null,
    },
    journals: facts.journals.map((j) => journalJson(j, facts.now)),
    lastRecord: iso(facts.lastRecord),
    lastRecordAgeSeconds: ageSeconds(facts.now, facts.lastRecord),
    lastReconcile: iso(facts.lastReconcile),
    lastReconcileAgeSeconds: ageSeconds(facts.now, facts.lastReconcile),
    reconcileInterrupted: facts.pending,
    rmtab:
      facts.rmtab === undefined
        ? null
        : "error" in facts.rmtab
          ? { checked: false, error: facts.rmtab.error }
          : { checked: true, matches: facts.rmtab.ok.add + facts.rmtab.ok.remove + facts.rmtab.ok.change === 0, ...facts.rmtab.ok },
    quarantined: facts.quarantined,
    findings: ev.findings,
  };
}

export const RANK: Readonly<Record<State, number>> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

/** One control directory's part of a status over every one. */
export type UnitStatus =
  | { readonly unit: ControlUnit; readonly absent: string }
  | { readonly unit: ControlUnit; readonly facts: StatusFacts; readonly ev: ReturnType<typeof evaluateStatus>; readonly findings: Finding[] };

/**
 * status over every control directory (a configuration with groups, no
 * --group and no --export): the shared one (if any) and each group's
 * mounted here, judged one by one; one finding list, each finding naming
 * its group. A group whose volume is not mounted here and whose exports are
 * not exported here is served elsewhere: that is no fault.
 */
export async function statusAll(ctx: SyncContext, staleAfterMs: number): Promise<UnitStatus[]> {
  const out: UnitStatus[] = [];
  const routing = spoolRouting(ctx.cfg);
  for (const unit of controlUnits(ctx.cfg)) {
    const uctx: SyncContext = { ...ctx, cfg: unit.cfg, spool: routing.get(unit.group ?? "") };
    const pre = unit.group === undefined ? "" : `group ${unit.name}: `;
    if (unit.group !== undefined) {
      const dir = unit.cfg.controlDir;
      let here = false;
      try {
        here = readMarker(paths(unit.cfg).marker) !== undefined;
      } catch {
        here = true; // an unreadable marker is judged below
      }
      const served = [...readHosted(unit.cfg, new ExportIndex(unit.cfg.exports)).hosted].sort();
      if (!here && served.length === 0) {
        out.push({ unit, absent: `${dir} not mounted here (the group is served elsewhere)` });
        continue;
      }
      if (!here) {
        const finding: Finding = {
          id: "control-marker-missing",
          state: "CRITICAL",
          message: `${pre}no marker on ${dir}, but ${served.join(", ")} ${served.length === 1 ? "is" : "are"} exported here: mount the group's control volume before rmtabsync and exportfs start (record and reconcile refuse this group)`,
        };
        const facts = await gatherStatus(uctx, { staleAfterMs });
        out.push({ unit, facts, ev: { state: "CRITICAL", findings: [finding] }, findings: [finding] });
        continue;
      }
    }
    const facts = await gatherStatus(uctx, { staleAfterMs });
    const ev = evaluateStatus(facts);
    out.push({ unit, facts, ev, findings: ev.findings.map((x) => ({ ...x, message: `${pre}${x.message}` })) });
  }
  return out;
}

/** Performance data over every control directory judged: sums, and the oldest record and reconcile. */
function statusPerfAll(parts: readonly { facts: StatusFacts }[]): Perf[] {
  const each = parts.map((p) => statusPerf(p.facts));
  const labels = each[0]?.map((x) => x.label) ?? [];
  return labels.map((label, i) => {
    const vals = each.map((e) => e[i]!.value);
    const known = vals.filter((v): v is number => v !== undefined);
    const value =
      known.length === 0 || (label.endsWith("_age") && known.length < vals.length)
        ? undefined
        : label === "entries"
          ? known[0]
          : label.endsWith("_age")
            ? Math.max(...known)
            : known.reduce((a, b) => a + b, 0);
    return { ...each[0]![i]!, value };
  });
}

export const DEFAULT_STALE_AFTER = "15m";

export function statusCommand(rt: Runtime) {
  return new Command("status")
    .description("health of this node: control volume, journals, last record/reconcile, rmtab vs journals (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    .option("--export <name>", "check this export's lines only (what the Pacemaker agent's monitor uses)")
    .option("--group <name>", "check this export group's control directory (with groups, --export picks its group)")
    .option("--stale-after <duration>", "warn when the last reconcile is older than this (e.g. 15m, 2h)", DEFAULT_STALE_AFTER)
    .option("--lock-timeout <seconds>", "wait at most this long for a shared rmtab lock; then rmtab is reported unchecked", "5")
    .action(async (opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      const unknown = (msg: string): never => pluginUnknown(rt, g.json === true, msg);
      let ctx: SyncContext | undefined;
      let staleAfterMs = 0;
      let every = false;
      try {
        ctx = syncContext({ ...g, lockTimeout: opts.lockTimeout }, rt);
        staleAfterMs = durationOption("--stale-after", opts.staleAfter);
        if (opts.export !== undefined && !new ExportIndex(ctx.cfg.exports).named(opts.export))
          throw new Error(`--export: expected one of ${ctx.cfg.exports.map((e) => e.name).join(", ")}, found "${opts.export}"`);
        // with groups: the control directory of the export's group (or the one named)
        const byExport = opts.export === undefined ? undefined : controlUnits(ctx.cfg).find((u) => u.cfg.exports.some((e) => e.name === opts.export))?.group;
        every = ctx.cfg.groups.length > 0 && ctx.cfg.group === undefined && opts.group === undefined && opts.export === undefined;
        if (ctx.cfg.groups.length > 0 && !every) {
          const name = opts.group ?? byExport;
          ctx = { ...ctx, cfg: unitView(ctx.cfg, name), spool: spoolRouting(ctx.cfg).get(name ?? "") };
        }
      } catch (err) {
        unknown(errorMessage(err));
      }
      if (ctx === undefined) return;
      if (every) return statusEvery(rt, g.json === true, ctx, staleAfterMs);
      let facts: StatusFacts;
      try {
        facts = await gatherStatus(ctx, { export: opts.export, staleAfterMs });
      } catch (err) {
        return unknown(errorMessage(err));
      }
      const ev = evaluateStatus(facts);
      if (g.json) printJson(rt, statusJson(facts, ev));
      else rt.out(statusText(facts, ev));
      if (ev.state !== "OK") throw new StatusExit(STATE_CODE[ev.state]);
    });
}

async function statusEvery(rt: Runtime, json: boolean, ctx: SyncContext, staleAfterMs: number): Promise<void> {
  let parts: UnitStatus[];
  try {
    parts = await statusAll(ctx, staleAfterMs);
  } catch (err) {
    return pluginUnknown(rt, json, errorMessage(err));
  }
  const judged = parts.filter((p): p is Extract<UnitStatus, { facts: StatusFacts }> => "facts" in p);
  const findings = judged.flatMap((p) => p.findings.map((x) => ({ ...x, group: p.unit.group ?? null })));
  findings.sort((a, b) => RANK[b.state] - RANK[a.state]);
  const state = findings.reduce<State>((s, x) => (RANK[x.state] > RANK[s] ? x.state : s), "OK");
  const name = (u: ControlUnit) => (u.group === undefined ? "shared control directory" : `group ${u.name}`);
  if (json) {
    printJson(rt, {
      state,
      code: STATE_CODE[state],
      node: ctx.node,
      cluster: ctx.cfg.cluster,
      groups: parts.map((p) =>
        "facts" in p
          ? { group: p.unit.group ?? null, here: true, ...statusJson(p.facts, { ...p.ev, findings: p.findings }) }
          : { group: p.unit.group ?? null, here: false, controlVolume: { dir: p.unit.cfg.controlDir }, reason: p.absent },
      ),
      findings,
    });
  } else {
    const counts = (["CRITICAL", "UNKNOWN", "WARNING"] as const)
      .map((s) => [s, findings.filter((x) => x.state === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s.toLowerCase()}`);
    const here = judged.length;
    const summary = findings[0]?.message ?? (here === 0 ? "no control directory is mounted here (every group is served elsewhere)" : "rmtab and journals in order");
    let out = pluginLine(state, `${summary}${counts.length > 1 ? ` (${counts.join(", ")})` : ""}`, statusPerfAll(judged));
    out += `node ${ctx.node}, cluster ${ctx.cfg.cluster}, ${here} of ${parts.length} control director${parts.length === 1 ? "y" : "ies"} here\n`;
    for (const p of parts) {
      out += `\n== ${name(p.unit)}\n`;
      out += "facts" in p ? statusBody(p.facts, [], { nodeLine: false }) : `${p.absent}\n`;
    }
    if (findings.length > 0) out += "\n" + findings.map((x) => `${x.state} ${x.id}: ${x.message}`).join("\n") + "\n";
    rt.out(out);
  }
  if (state !== "OK") throw new StatusExit(STATE_CODE[state]);
}
