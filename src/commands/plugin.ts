// What status and doctor share as monitoring plugins (Monitoring Plugins
// development guidelines, also Nagios, Icinga, NRPE): the first line on
// stdout is `rmtabsync STATE: summary | perfdata`, the exit code is 0 OK,
// 1 WARNING, 2 CRITICAL, 3 UNKNOWN, and anything that stops the check (a
// usage error, a bad configuration, an unreadable file) is UNKNOWN.
import { StatusExit } from "../errors.js";
import { printJson, type Runtime } from "./common.js";

export type PluginState = "OK" | "WARNING" | "CRITICAL" | "UNKNOWN";
export const PLUGIN_CODE: Readonly<Record<PluginState, number>> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

/** The commands that follow these conventions. */
export const PLUGIN_COMMANDS: readonly string[] = ["status", "doctor"];

export interface Perf {
  readonly label: string;
  /** undefined: not determined (printed as U). */
  readonly value: number | undefined;
  /** "s", "B", "%" or "c" (a counter); nothing for a plain number. */
  readonly uom?: string;
  readonly warn?: number;
  readonly crit?: number;
  readonly min?: number;
  readonly max?: number;
}

/** `'label'=value[UOM];[warn];[crit];[min];[max]`, space separated, trailing empty fields dropped. */
export function perfData(perf: readonly Perf[]): string {
  const n = (v: number | undefined) => (v === undefined ? "" : String(v));
  return perf
    .map((p) => {
      const label = /^[A-Za-z0-9_.-]+$/.test(p.label) ? p.label : `'${p.label.replaceAll("'", "''")}'`;
      const value = p.value === undefined ? "U" : `${p.value}${p.uom ?? ""}`;
      return `${label}=${[value, n(p.warn), n(p.crit), n(p.min), n(p.max)].join(";").replace(/;+$/, "")}`;
    })
    .join(" ");
}

/** The plugin's first line. The summary is kept to one line and free of `|`, which starts the performance data. */
export function pluginLine(state: PluginState, summary: string, perf: readonly Perf[] = []): string {
  const text = summary.replace(/(:?)\s*\n\s*/g, (_, colon: string) => (colon ? ": " : "; ")).replaceAll("|", "/");
  return `rmtabsync ${state}: ${text}${perf.length > 0 ? ` | ${perfData(perf)}` : ""}\n`;
}

/** The JSON document of a check that could not run. */
export function unknownJson(error: string) {
  return { state: "UNKNOWN" as const, code: PLUGIN_CODE.UNKNOWN, error };
}

/** Reports a check that could not run (UNKNOWN, exit 3) on stdout and ends the command. */
export function pluginUnknown(rt: Runtime, json: boolean, error: string, extraJson: Record<string, unknown> = {}): never {
  if (json) printJson(rt, { ...unknownJson(error), ...extraJson });
  else rt.out(pluginLine("UNKNOWN", error));
  throw new StatusExit(PLUGIN_CODE.UNKNOWN);
}

/** The command a command line names (options of the program and their values skipped), if any. */
export function commandOf(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-c" || a === "--config" || a === "-n" || a === "--node") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}
