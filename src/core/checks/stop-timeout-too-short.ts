// stop-timeout-too-short: with wait_for_leasetime_on_stop the exportfs agent
// sleeps lease time + 2 s on stop; a shorter stop timeout fails the stop
// (and fences the node).
import { cibExports, parseDurationSeconds } from "../cib.js";
import type { Check, Finding } from "../doctor.js";
import { exportForDir, isTrue, withFacts } from "./util.js";

/** Seconds beyond lease + 2 s the stop needs for exportfs -u and the monitor around it. */
export const STOP_MARGIN_S = 10;
/** Pacemaker's built-in operation timeout. */
const PACEMAKER_DEFAULT_TIMEOUT_S = 20;

export const stopTimeoutTooShort: Check = {
  id: "stop-timeout-too-short",
  cib: "required",
  run(input) {
    const cib = input.cib!;
    const findings: Finding[] = [];
    const waiting = cibExports(cib).filter((c) => isTrue(cib.primitives.get(c.id)?.params.wait_for_leasetime_on_stop));
    if (waiting.length === 0) return { findings };
    const leases = withFacts(input.nodes).flatMap((n) => (n.facts.leaseTime.value === null ? [] : [[n.node, n.facts.leaseTime.value] as const]));
    if (leases.length === 0) return { findings, skipped: ["no node published its NFSv4 lease time"] };
    const lease = Math.max(...leases.map(([, l]) => l));
    const need = lease + 2 + STOP_MARGIN_S;
    for (const c of waiting) {
      const op = cib.primitives.get(c.id)?.ops.find((o) => o.name === "stop");
      const raw = op?.timeout ?? cib.opDefaultTimeout;
      const timeout = raw === null ? PACEMAKER_DEFAULT_TIMEOUT_S : parseDurationSeconds(raw);
      if (timeout === undefined || timeout >= need) continue;
      const ex = c.directories.map((d) => exportForDir(input.exports, d)).find((x) => x !== undefined);
      findings.push({
        check: "stop-timeout-too-short",
        severity: "warning",
        export: ex?.name ?? null,
        nodes: leases.filter(([, l]) => l === lease).map(([n]) => n),
        evidence: `${c.id} waits for the lease time on stop (${lease} s + 2 s) but its stop timeout is ${timeout} s${raw === null ? " (Pacemaker default)" : ""}`,
        why: "the stop times out, Pacemaker treats it as failed and fences the node, dropping every client",
        fix: `pcs resource update ${c.id} op stop timeout=${need}s`,
      });
    }
    return { findings };
  },
};
