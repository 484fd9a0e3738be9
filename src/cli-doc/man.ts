// rmtabsync(8), generated from the commander definitions (synopses, options,
// defaults), the doctor check registry and the file-name functions, so the
// manual cannot drift from the CLI. `rmtabsync man` prints it; the checked-in
// deploy/man/rmtabsync.8 is its output (test/cli-doc.test.ts compares them).
import type { CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import { DEFAULT_CONFIG_PATH, journalFile, paths, unitStateDir } from "../config.js";
import { CHECKS } from "../core/checks/index.js";
import { localBaselineFile, localEditsFile } from "../io/local-baseline.js";
import { marksFile } from "../io/marks.js";
import { SHARED_SPOOL_DIR, SPOOL_NAME } from "../io/spool.js";
import { volumeRecordFile } from "../io/volume.js";
import { optionDescription, repeatable, valueName, visibleCommands, visibleOptions } from "./help.js";

/** Escapes text for a roff text line (not a request). */
export function roff(text: string): string {
  const s = text.replaceAll("\\", "\\e").replaceAll("-", "\\-");
  return /^[.']/.test(s) ? `\\&${s}` : s;
}

const B = (s: string) => `\\fB${roff(s)}\\fR`;
const I = (s: string) => `\\fI${roff(s)}\\fR`;

/** `\fB\-c\fR, \fB\-\-config\fR \fIfile\fR` */
function optionTag(o: Option): string {
  const names = [o.short, o.long].filter((x): x is string => x !== undefined).map(B).join(", ");
  const v = valueName(o);
  return v === undefined ? names : `${names} ${I(v)}`;
}

/** `[\fB\-\-keep\fR \fIduration\fR]`, without brackets when the option is mandatory, `...` when repeatable. */
function optionSynopsis(o: Option): string {
  const flag = B(o.short ?? o.long ?? "");
  const v = valueName(o);
  // an unbreakable space keeps an option and its value on one line
  // and \% keeps the value from being hyphenated
  const body = v === undefined ? flag : `${flag}\\ \\fI\\%${roff(v)}\\fR`;
  // \% first: the word ([--accept-empty]) is never hyphenated either
  return `\\%${o.mandatory ? body : `[${body}]`}${repeatable(o) ? "..." : ""}`;
}

function commandSynopsis(c: CommandUnknownOpts): string {
  return [B(`rmtabsync ${c.name()}`), ...visibleOptions(c).map(optionSynopsis)].join(" ");
}

function optionList(options: readonly Option[]): string[] {
  return options.flatMap((o) => [".TP", optionTag(o), roff(optionDescription(o))]);
}

/** Each file the tool reads or writes, with where it lives (stateDir, controlDir placeholders). */
function filesSection(): string[] {
  const S = "/var/lib/nfs";
  const p = paths({ stateDir: S, controlDir: "controlDir" });
  const entries: [string, string][] = [
    [DEFAULT_CONFIG_PATH, "The configuration, identical on every node (or \\fB\\-c\\fR, \\fBRMTABSYNC_CONFIG\\fR); example: \\fI/usr/share/doc/rmtabsync/examples/config.yaml\\fR."],
    [p.rmtab, "rpc.mountd's table of NFSv3 mounts, rewritten by \\fBreconcile\\fR (the directory is \\fBstateDir\\fR in the configuration)."],
    [p.etab, "The exports this node exports now, written by exportfs; read only."],
    [p.lock, "mountd's lock file: rmtabsync takes the same POSIX fcntl lock."],
    [p.quarantine, "Malformed rmtab lines that \\fBreconcile\\fR removed, each after a comment naming its line and problem: read them, then delete the file."],
    [marksFile(S), "The newest event this node has seen of every journal (evidence of a rolled back or forked journal)."],
    [localBaselineFile(S), "A copy of this node's baseline (the rmtab it last saw or wrote) and clock high\\-water mark."],
    [localEditsFile(S), "The edits made to that copy since it was written whole (a record writes the lines that changed, not the whole file)."],
    [volumeRecordFile(S), "The identity of the control volume \\fBinit\\fR saw (marker id, filesystem)."],
    [`${S}/${SPOOL_NAME}`, "Events appended by mountd's ha\\-callout, folded into the journal by \\fBrecord\\fR and \\fBwatch\\fR; with export groups, first handed out to the spool directory of each event's control directory (below), under mountd's lock."],
    [
      `${unitStateDir({ stateDir: S, group: "group" })}/`,
      "With export groups: this node's state for the group's control directory (marks, baseline copy, fold cache), and the group's callout events, which wait here until the group's volume is mounted and writable on this node and then go to that group's journal only.",
    ],
    [`${S}/${SHARED_SPOOL_DIR}/`, "With export groups and a shared \\fBcontrolDir\\fR: the callout events of the exports in no group, waiting for the shared control volume."],
    [p.marker, "The control volume's marker: cluster name and volume id, written by \\fBinit\\fR."],
    [`${p.journals}/`, "The journals directory of the control volume."],
    [journalFile(p.journals, "node"), "Each node's journal (SQLite); only its node writes it."],
    ["/lib/systemd/system/rmtabsync.service", "The daemon (\\fBrmtabsync watch\\fR); the daemon\\-less alternative is \\fIrmtabsync\\-record.path\\fR with \\fIrmtabsync\\-reconcile.timer\\fR."],
    ["/usr/lib/ocf/resource.d/rmtabsync/rmtabsync", "The Pacemaker resource agent \\fBocf:rmtabsync:rmtabsync\\fR."],
    ["/usr/lib/rmtabsync/mountd-callout", "mountd's ha\\-callout: appends each MNT and UMNT to the spool."],
    ["/usr/share/bash-completion/completions/rmtabsync", "Bash completion (\\fBrmtabsync completion bash\\fR)."],
  ];
  return entries.flatMap(([path, what]) => [".TP", `.I ${roff(path)}`, what]);
}

export interface ManMeta {
  readonly version: string;
  /** Release date, YYYY-MM-DD. */
  readonly date: string;
}

export function manPage(program: CommandUnknownOpts, meta: ManMeta): string {
  const commands = visibleCommands(program);
  const globals = visibleOptions(program).filter((o) => o.long !== "--version");
  const out: string[] = [
    `.\\" Generated by 'rmtabsync man' from the command definitions: do not edit.`,
    `.TH RMTABSYNC 8 "${meta.date}" "rmtabsync ${meta.version}" "System Administration"`,
    ".SH NAME",
    `rmtabsync \\- ${roff(program.description())}`,
    ".SH SYNOPSIS",
    `${B("rmtabsync")} ${globals.map(optionSynopsis).join(" ")} ${I("command")} [${I("options")}]`,
    ".br",
    `${B("rmtabsync")} ${B("--version")} | ${B("--help")} | ${I("command")} ${B("--help")}`,
    ".SH DESCRIPTION",
    ".B rmtabsync",
    "keeps",
    ".BR rpc.mountd (8)'s",
    ".I rmtab",
    "right when NFS exports move between the nodes of a Pacemaker/DRBD cluster, so",
    "that after a failover",
    ".B showmount \\-a",
    "lists the export's NFSv3 clients and mount counts keep working.",
    "Each node appends its rmtab changes as events to its own SQLite journal on a",
    "small replicated control volume that every node can read;",
    ".B reconcile",
    "folds all journals and rewrites the local rmtab under mountd's own fcntl lock.",
    "rmtab plays no part in file handles: stale file handles after a failover come",
    "from elsewhere (a missing or differing",
    ".BR fsid= ,",
    "the service IP coming up before the export, NFSv4 grace);",
    ".B rmtabsync doctor",
    "checks those.",
    ".SH COMMANDS",
    // left-adjusted: justified synopses spread their options across the line
    ".ad l",
  ];
  for (const c of commands) {
    out.push(".TP", commandSynopsis(c), roff(c.description()));
    const opts = visibleOptions(c);
    if (opts.length > 0) out.push(".RS", ...optionList(opts), ".RE");
  }
  out.push(".SH GLOBAL OPTIONS", "They go before or after the command name.", ...optionList(globals));
  out.push(
    ".SH DOCTOR CHECKS",
    "Each finding of",
    ".B doctor",
    "names one of these checks (see the README for what each means and its fix):",
    `${CHECKS.map((c) => B(c.id)).join(",\n")}.`,
  );
  out.push(
    ".SH EXIT STATUS",
    ".TP",
    "0",
    "Success.",
    ".TP",
    "1",
    "Failure.",
    ".TP",
    "2",
    "Usage or configuration error (also \\fBrmtabsync\\fR without a command).",
    ".TP",
    "3",
    "Refused to act so that no data is lost (control volume not mounted, of another",
    "cluster or not the one \\fBinit\\fR saw; lock not had in time); nothing was written.",
    ".PP",
    ".B status",
    "and",
    ".B doctor",
    "are monitoring plugins: their first line on stdout is",
    '.IR "rmtabsync STATE: summary | performance data" ,',
    "and they use the plugin codes 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
    "(including a usage error or a configuration they cannot load).",
    ".SH FILES",
    ...filesSection(),
    ".SH ENVIRONMENT",
    ".TP",
    ".B RMTABSYNC_CONFIG",
    `The configuration file when \\fB\\-c\\fR is not given (default: ${roff(DEFAULT_CONFIG_PATH)}).`,
    ".TP",
    ".B RMTABSYNC_NODE",
    "This node's name when \\fB\\-n\\fR is not given (default: the short hostname).",
    ".TP",
    ".B RMTABSYNC_SPOOL",
    "Read by the ha\\-callout: the spool it appends to.",
    ".SH SEE ALSO",
    ".BR rpc.mountd (8),",
    ".BR exportfs (8),",
    ".BR showmount (8),",
    ".BR systemd.service (5),",
    ".BR pcs (8)",
  );
  return `${out.join("\n")}\n`;
}
