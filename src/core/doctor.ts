// rmtabsync doctor: a registry of small checks, each a pure function of the
// nodes' published facts and the parsed CIB. No fs, no clock here.
import type { Cib } from "./cib.js";
import type { ExportDef } from "./exports.js";
import type { NodeFacts } from "./facts.js";

export type Severity = "critical" | "warning" | "info";

export interface Finding {
  readonly check: string;
  readonly severity: Severity;
  /** Configured export name, or null for node-wide findings. */
  readonly export: string | null;
  readonly nodes: readonly string[];
  /** What was seen. */
  readonly evidence: string;
  /** One line: why this breaks clients. */
  readonly why: string;
  /** The exact command, nfs.conf line or export option that fixes it. */
  readonly fix: string;
}

export interface NodeInput {
  readonly node: string;
  readonly facts: NodeFacts | null;
  /** When the newest facts were published / last confirmed (ms). */
  readonly published: number | null;
  readonly checked: number | null;
  /** Why there are no facts (unreadable journal...). */
  readonly problem: string | null;
}

export interface DoctorInput {
  readonly exports: readonly ExportDef[];
  readonly nodes: readonly NodeInput[];
  readonly self: string;
  readonly nowMs: number;
  readonly maxFactsAgeMs: number;
  readonly cib: Cib | null;
  /** Why there is no CIB (when cib is null). */
  readonly cibReason: string;
}

export interface CheckResult {
  readonly findings: Finding[];
  /** Parts of the check that could not run, each with its reason. */
  readonly skipped?: string[];
}

export interface Check {
  readonly id: string;
  /** "required": skipped without a CIB; "optional": the CIB part is skipped; "none". */
  readonly cib: "required" | "optional" | "none";
  readonly run: (input: DoctorInput) => CheckResult;
}

export type Status = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";

export const STATUS_EXIT: Record<Status, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export interface Skipped {
  readonly check: string;
  readonly reason: string;
}

export interface DoctorResult {
  readonly status: Status;
  readonly findings: Finding[];
  readonly skipped: Skipped[];
}

const ORDER: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export function runChecks(checks: readonly Check[], input: DoctorInput, filter: { export?: string } = {}): DoctorResult {
  const findings: Finding[] = [];
  const skipped: Skipped[] = [];
  for (const c of checks) {
    if (c.cib === "required" && input.cib === null) {
      skipped.push({ check: c.id, reason: input.cibReason });
      continue;
    }
    const r = c.run(input);
    findings.push(...r.findings);
    for (const s of r.skipped ?? []) skipped.push({ check: c.id, reason: s });
    if (c.cib === "optional" && input.cib === null) skipped.push({ check: c.id, reason: `CIB part: ${input.cibReason}` });
  }
  const kept = findings.filter((f) => filter.export === undefined || f.export === null || f.export === filter.export);
  kept.sort((a, b) => ORDER[a.severity] - ORDER[b.severity] || a.check.localeCompare(b.check) || (a.export ?? "").localeCompare(b.export ?? ""));
  const status: Status = kept.some((f) => f.severity === "critical") ? "CRITICAL" : kept.some((f) => f.severity === "warning") ? "WARNING" : "OK";
  return { status, findings: kept, skipped };
}

/** The `--json` finding: message = evidence + why. */
export function findingJson(f: Finding): { check: string; severity: Severity; export: string | null; nodes: string[]; message: string; fix: string } {
  return { check: f.check, severity: f.severity, export: f.export, nodes: [...f.nodes], message: `${f.evidence}: ${f.why}`, fix: f.fix };
}
