import { Command } from "@commander-js/extra-typings";
import type { Gauge as GaugeT } from "prom-client";
import { journalFile, paths } from "../config.js";
import { CHECKS } from "../core/checks/index.js";
import { runChecks } from "../core/doctor.js";
import { ExportIndex } from "../core/exports.js";
import { parseRmtab } from "../core/rmtab.js";
import { errorMessage, UsageError } from "../errors.js";
import { readJournals } from "../io/control.js";
import { loadCib, readNodeInputsAll } from "../io/doctor-input.js";
import { readTextIfExists, writeFileAtomic } from "../io/files.js";
import { nodeOfFile, OwnJournal } from "../io/journal.js";
import { gatherStatus } from "../status.js";
import { evaluateStatus, STATE_CODE, type State } from "../core/status.js";
import { durationOption, loadConfigFor, nodeName, parseSeconds, readGlobals, warner, type Runtime } from "./common.js";
import { DEFAULT_FACTS_MAX_AGE } from "./doctor.js";
import { DEFAULT_STALE_AFTER, RANK, statusAll } from "./status.js";
import type { SyncContext } from "../sync.js";
import type { Config } from "../config.js";

type MakeGauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => GaugeT<L>;
type SetState = (g: GaugeT<"source" | "state">, source: string, s: State) => void;

function stateGauge(gauge: MakeGauge): GaugeT<"source" | "state"> {
  return gauge(
    "rmtabsync_state",
    "1 for the state (OK, WARNING, CRITICAL, UNKNOWN) that 'rmtabsync status' (source=status) and 'rmtabsync doctor' (source=doctor) report, as the 'state' of their --json; 0 for the others",
    ["source", "state"],
  );
}

/**
 * The series of each control directory, with export groups: labelled
 * group="NAME", group="" for the shared control directory (Prometheus
 * stores an empty label as no label: the same series as without groups).
 * A group whose volume is not mounted here is served elsewhere: only
 * rmtabsync_control_mounted{group} 0, never an error. The status state is
 * the worst over the control directories here, as 'status' reports it.
 */
async function groupSeries(ctx: SyncContext & { cfg: Config }, staleAfterMs: number, gauge: MakeGauge, setState: SetState): Promise<GaugeT<"source" | "state">> {
  const mounted = gauge("rmtabsync_control_mounted", "1 when the group's control directory is mounted here (its marker is there), 0 when the group is served elsewhere; group=\"\" is the shared control directory", ["group"]);
  const readable = gauge("rmtabsync_journal_readable", "1 when the node's journal in the control directory can be read, else 0", ["group", "node"]);
  const lastEvent = gauge("rmtabsync_journal_last_event_timestamp_seconds", "wall time of the newest event in the node's journal in the control directory", ["group", "node"]);
  const entries = gauge("rmtabsync_rmtab_entries", "entries in this node's rmtab per export (export=\"\" for paths outside every export)", ["export"]);
  const drift = gauge("rmtabsync_rmtab_drift_entries", "rmtab lines of the control directory's exports that differ from what reconcile would write (-1: could not compute)", ["group"]);
  const groupState = gauge("rmtabsync_group_state", "1 for the state (OK, WARNING, CRITICAL, UNKNOWN) of the control directory as 'rmtabsync status' judges it, 0 for the others; no series for a group served elsewhere", ["group", "state"]);
  const lastOk = gauge("rmtabsync_last_success_timestamp_seconds", "last successful record or reconcile on this node, per control directory", ["group", "operation"]);
  const state = stateGauge(gauge);
  const label = (g: string | undefined) => g ?? "";

  const index = new ExportIndex(ctx.cfg.exports);
  for (const e of ctx.cfg.exports) entries.set({ export: e.name }, 0);
  const text = readTextIfExists(paths(ctx.cfg).rmtab);
  if (text !== undefined) for (const e of parseRmtab(text).entries) entries.inc({ export: index.exportOf(e.path)?.name ?? "" });

  let parts;
  try {
    parts = await statusAll(ctx, staleAfterMs);
  } catch (err) {
    ctx.warn(`cannot evaluate status: ${errorMessage(err)}`);
    setState(state, "status", "UNKNOWN");
    return state;
  }
  let worst: State = "OK";
  for (const p of parts) {
    const group = label(p.unit.group);
    if (!("facts" in p)) {
      mounted.set({ group }, 0);
      continue;
    }
    const f = p.facts;
    mounted.set({ group }, f.marker.kind === "missing" ? 0 : 1);
    for (const j of f.journals) {
      readable.set({ group, node: j.node }, j.present && j.problem === undefined ? 1 : 0);
      if (j.lastEvent) lastEvent.set({ group, node: j.node }, j.lastEvent.wall / 1000);
    }
    if (f.rmtab !== undefined && "ok" in f.rmtab) drift.set({ group }, f.rmtab.ok.add + f.rmtab.ok.remove + f.rmtab.ok.change);
    else {
      if (f.rmtab !== undefined) ctx.warn(`${p.unit.group !== undefined ? `group ${p.unit.name}: ` : ""}cannot compute rmtab drift: ${f.rmtab.error}`);
      drift.set({ group }, -1);
    }
    if (f.lastRecord !== undefined) lastOk.set({ group, operation: "record" }, f.lastRecord / 1000);
    if (f.lastReconcile !== undefined) lastOk.set({ group, operation: "reconcile" }, f.lastReconcile / 1000);
    const s = p.findings.reduce<State>((a, x) => (RANK[x.state] > RANK[a] ? x.state : a), "OK");
    for (const x of Object.keys(STATE_CODE) as State[]) groupState.set({ group, state: x }, x === s ? 1 : 0);
    if (RANK[s] > RANK[worst]) worst = s;
  }
  setState(state, "status", worst);
  return state;
}

export function metricsCommand(rt: Runtime) {
  return new Command("metrics")
    .description("Prometheus metrics (exposition format) on stdout, or atomically into a node_exporter textfile")
    .option("--textfile <path>", "write to this file (temp file + rename) instead of stdout, e.g. /var/lib/prometheus/node-exporter/rmtabsync.prom")
    .option("--cib <file>", "CIB for the doctor findings (default: cibadmin -Q when it answers)")
    .option("--lock-timeout <seconds>", "wait at most this long for mountd's lock (drift is computed by a dry-run reconcile)", "10")
    .option("--stale-after <duration>", "as for status: a last reconcile older than this makes the status state WARNING", DEFAULT_STALE_AFTER)
    .action(async (opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      if (g.json) throw new UsageError("--json: metrics prints the Prometheus exposition format, which has no JSON form");
      const cfg = loadConfigFor(g, rt);
      const node = nodeName(g, rt, cfg);
      const warn = warner(rt);
      const nowMs = rt.now();
      // prom-client loads only here (it costs ~0.2 s of start-up that record/reconcile should not pay).
      const { Gauge, Registry } = await import("prom-client");
      const reg = new Registry();
      const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]): GaugeT<L> => new Gauge<L>({ name, help, labelNames, registers: [reg] });

      const setState = (g: GaugeT<"source" | "state">, source: string, s: State) => {
        for (const x of Object.keys(STATE_CODE) as State[]) g.set({ source, state: x }, x === s ? 1 : 0);
      };
      const staleAfterMs = durationOption("--stale-after", opts.staleAfter);
      const lockTimeoutMs = parseSeconds("--lock-timeout", opts.lockTimeout);
      let state: GaugeT<"source" | "state">;
      if (cfg.groups.length > 0) state = await groupSeries({ cfg, node, lockTimeoutMs, now: rt.now, warn }, staleAfterMs, gauge, setState);
      else {
        const readable = gauge("rmtabsync_journal_readable", "1 when the node's journal can be read, else 0", ["node"]);
        const lastEvent = gauge("rmtabsync_journal_last_event_timestamp_seconds", "wall time of the newest event in the node's journal", ["node"]);
        const factsTime = gauge("rmtabsync_facts_published_timestamp_seconds", "when the node last collected its facts", ["node"]);
        // no events: the newest sound stamp is one indexed query (a scrape must not cost a fold)
        const set = readJournals(cfg, { events: false, futureAfterMs: rt.now() + cfg.maxClockSkewMs });
        for (const j of set.journals) {
          const n = nodeOfFile(j.file);
          readable.set({ node: n }, 1);
          const last = j.maxHlc.wall;
          if (last > 0) lastEvent.set({ node: n }, last / 1000);
          const f = j.factsChecked ?? j.facts?.wall;
          if (f !== undefined) factsTime.set({ node: n }, f / 1000);
        }
        for (const p of set.problems) readable.set({ node: p.node }, 0);

        const entries = gauge("rmtabsync_rmtab_entries", "entries in this node's rmtab per export (export=\"\" for paths outside every export)", ["export"]);
        const index = new ExportIndex(cfg.exports);
        for (const e of cfg.exports) entries.set({ export: e.name }, 0);
        const text = readTextIfExists(paths(cfg).rmtab);
        if (text !== undefined) for (const e of parseRmtab(text).entries) entries.inc({ export: index.exportOf(e.path)?.name ?? "" });

        // status's own evaluation (read-only, shared lock): its state, and the drift it found
        const drift = gauge("rmtabsync_rmtab_drift_entries", "rmtab lines that differ from what reconcile would write (-1: could not compute)", []);
        state = stateGauge(gauge);
        try {
          const facts = await gatherStatus({ cfg, node, lockTimeoutMs, now: rt.now, warn }, { staleAfterMs });
          setState(state, "status", evaluateStatus(facts).state);
          if (facts.rmtab !== undefined && "ok" in facts.rmtab) drift.set(facts.rmtab.ok.add + facts.rmtab.ok.remove + facts.rmtab.ok.change);
          else {
            if (facts.rmtab !== undefined) warn(`cannot compute rmtab drift: ${facts.rmtab.error}`);
            drift.set(-1);
          }
        } catch (err) {
          warn(`cannot evaluate status: ${errorMessage(err)}`);
          setState(state, "status", "UNKNOWN");
          drift.set(-1);
        }

        const lastOk = gauge("rmtabsync_last_success_timestamp_seconds", "last successful record or reconcile on this node", ["operation"]);
        try {
          const own = OwnJournal.open(journalFile(paths(cfg).journals, node), { cluster: cfg.cluster, node, create: false, now: new Date(nowMs) });
          try {
            const t = own.lastTimes();
            if (t.record !== undefined) lastOk.set({ operation: "record" }, t.record / 1000);
            if (t.reconcile !== undefined) lastOk.set({ operation: "reconcile" }, t.reconcile / 1000);
          } finally {
            own.close();
          }
        } catch (err) {
          warn(`cannot read this node's journal: ${errorMessage(err)}`);
        }
      }

      const findings = gauge("rmtabsync_doctor_findings", "doctor findings per check and severity", ["check", "severity"]);
      const skipped = gauge("rmtabsync_doctor_skipped", "1 when a doctor check (or part) could not run", ["check"]);
      // the shared volume's node inputs; with groups, the freshest of every control directory mounted here (as doctor)
      const inputs = readNodeInputsAll(cfg, node, nowMs, warn);
      const cib = await loadCib(opts.cib);
      const res = runChecks(CHECKS, { exports: cfg.exports, nodes: inputs.nodes, self: node, nowMs, maxFactsAgeMs: durationOption("--facts-max-age", DEFAULT_FACTS_MAX_AGE), cib: cib.cib, cibReason: cib.reason });
      for (const c of CHECKS) for (const s of ["critical", "warning", "info"] as const) findings.set({ check: c.id, severity: s }, 0);
      for (const f of res.findings) findings.inc({ check: f.check, severity: f.severity });
      for (const s of res.skipped) skipped.set({ check: s.check }, 1);
      if (inputs.skipped.length > 0) skipped.set({ check: "facts-missing" }, 1);
      if (cfg.groups.length > 0) {
        // a node's facts are those doctor compares: the freshest over the control directories mounted here
        const factsTime = gauge("rmtabsync_facts_published_timestamp_seconds", "when the node last collected its facts", ["node"]);
        for (const n of inputs.nodes) {
          const t = n.checked ?? n.published;
          if (t !== null) factsTime.set({ node: n.node }, t / 1000);
        }
      }
      setState(state, "doctor", res.status);

      const out = await reg.metrics();
      // 0644: node_exporter reads the textfile as its own user; it holds counts, no addresses
      if (opts.textfile !== undefined) writeFileAtomic(opts.textfile, out, { mode: 0o644 });
      else rt.out(out);
    });
}
