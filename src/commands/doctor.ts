import { Command } from "@commander-js/extra-typings";
import { CHECKS } from "../core/checks/index.js";
import { findingJson, runChecks, STATUS_EXIT, type DoctorResult } from "../core/doctor.js";
import { ExitError, StatusExit, errorMessage } from "../errors.js";
import { pluginLine, pluginUnknown, type Perf } from "./plugin.js";
import { loadCib, readNodeInputsAll } from "../io/doctor-input.js";
import { durationOption, loadConfigFor, nodeName, printJson, readGlobals, warner, type Runtime } from "./common.js";

export const DEFAULT_FACTS_MAX_AGE = "1h";

/** Performance data: findings per severity and skipped checks. */
export function doctorPerf(r: DoctorResult): Perf[] {
  const count = (s: string) => r.findings.filter((f) => f.severity === s).length;
  return [
    { label: "critical", value: count("critical"), crit: 0, min: 0 },
    { label: "warning", value: count("warning"), warn: 0, min: 0 },
    { label: "info", value: count("info"), min: 0 },
    { label: "skipped", value: r.skipped.length, min: 0 },
  ];
}

export function doctorText(r: DoctorResult, nodes: number, exports: number): string {
  const count = (s: string) => r.findings.filter((f) => f.severity === s).length;
  let out = pluginLine(r.status, `${count("critical")} critical, ${count("warning")} warning, ${count("info")} info (${nodes} nodes, ${exports} exports)`, doctorPerf(r));
  for (const f of r.findings) {
    out += `\n[${f.severity}] ${f.check}${f.export ? `  export ${f.export}` : ""}${f.nodes.length ? `  nodes ${f.nodes.join(", ")}` : ""}\n`;
    out += `  ${f.evidence}\n  why: ${f.why}\n  fix: ${f.fix}\n`;
  }
  if (r.skipped.length > 0) {
    // one line per reason: "checks: reason"
    const byReason = new Map<string, string[]>();
    for (const s of r.skipped) {
      const part = s.reason.startsWith("CIB part: ");
      const reason = part ? s.reason.slice("CIB part: ".length) : s.reason;
      byReason.set(reason, [...(byReason.get(reason) ?? []), part ? `${s.check} (CIB part)` : s.check]);
    }
    out += "\nskipped:\n";
    for (const [reason, checks] of byReason) out += `  ${checks.join(", ")}: ${reason}\n`;
  }
  return out;
}

export function doctorCommand(rt: Runtime) {
  return new Command("doctor")
    .description("check, before anything moves, whether each export's clients survive a failover (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)")
    .option("--cib <file>", "Pacemaker CIB XML to check (default: cibadmin -Q when it answers)")
    .option("--export <name>", "only findings for this export (and node-wide ones)")
    .option("--facts-max-age <duration>", "facts older than this are reported (facts-missing)", DEFAULT_FACTS_MAX_AGE)
    .action(async (opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      let result: DoctorResult;
      let counts: [number, number];
      try {
        const cfg = loadConfigFor(g, rt);
        const self = nodeName(g, rt, cfg);
        if (opts.export !== undefined && !cfg.exports.some((e) => e.name === opts.export))
          throw new ExitError(`--export: expected one of ${cfg.exports.map((e) => e.name).join(", ")}, found "${opts.export}"`, STATUS_EXIT.UNKNOWN);
        const maxAge = durationOption("--facts-max-age", opts.factsMaxAge);
        const nowMs = rt.now();
        const inputs = readNodeInputsAll(cfg, self, nowMs, warner(rt));
        const cib = await loadCib(opts.cib);
        result = runChecks(CHECKS, { exports: cfg.exports, nodes: inputs.nodes, self, nowMs, maxFactsAgeMs: maxAge, cib: cib.cib, cibReason: cib.reason }, { export: opts.export });
        if (inputs.skipped.length > 0) result = { ...result, skipped: [...result.skipped, ...inputs.skipped.map((reason) => ({ check: "facts-missing", reason }))] };
        counts = [cfg.nodes.length, cfg.exports.length];
      } catch (err) {
        // Monitoring-plugin convention: anything that stops the checks is UNKNOWN (3).
        return pluginUnknown(rt, g.json === true, errorMessage(err), { status: "UNKNOWN", findings: [], skipped: [] });
      }
      if (g.json)
        printJson(rt, { state: result.status, code: STATUS_EXIT[result.status], status: result.status, findings: result.findings.map(findingJson), skipped: result.skipped });
      else rt.out(doctorText(result, counts[0], counts[1]));
      if (result.status !== "OK") throw new StatusExit(STATUS_EXIT[result.status]);
    });
}
