// The rmtabsync command line. The only place that sets the exit code.
import { Command, CommanderError, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { EXIT, ExitError, StatusExit, errorMessage } from "./errors.js";
import { printJson, processRuntime, type Runtime } from "./commands/common.js";
import { commandOf, PLUGIN_CODE, PLUGIN_COMMANDS, pluginLine, unknownJson } from "./commands/plugin.js";
import { initCommand } from "./commands/init.js";
import { recordCommand } from "./commands/record.js";
import { reconcileCommand } from "./commands/reconcile.js";
import { showCommand } from "./commands/show.js";
import { logCommand } from "./commands/log.js";
import { verifyCommand } from "./commands/verify.js";
import { recoverCommand } from "./commands/recover.js";
import { forgetCommand } from "./commands/forget.js";
import { compactCommand } from "./commands/compact.js";
import { doctorCommand } from "./commands/doctor.js";
import { metricsCommand } from "./commands/metrics.js";
import { watchCommand } from "./commands/watch.js";
import { statusCommand } from "./commands/status.js";
import { completionCommand } from "./commands/completion.js";
import { manCommand } from "./commands/man.js";
import { checkConfigCommand } from "./commands/check-config.js";
import { HELP_CONFIG } from "./cli-doc/help.js";

declare const RMTABSYNC_VERSION: string;
declare const RMTABSYNC_DATE: string;
const VERSION = typeof RMTABSYNC_VERSION === "string" ? RMTABSYNC_VERSION : "0.0.0-dev";
const DATE = typeof RMTABSYNC_DATE === "string" ? RMTABSYNC_DATE : "1970-01-01";

export function buildProgram(rt: Runtime): Command<[], { config?: string; node?: string; json?: true; debug?: true }> {
  const program = new Command()
    .name("rmtabsync")
    .description("keeps rpc.mountd's rmtab right on every node of an active/active NFS cluster")
    .version(VERSION, "-V, --version")
    .option("-c, --config <file>", "configuration file (default: $RMTABSYNC_CONFIG or /etc/rmtabsync/config.yaml)")
    .option("-n, --node <name>", "this node's name (default: $RMTABSYNC_NODE or the short hostname)")
    .option("--json", "print one JSON document on stdout")
    .option("--debug", "print stack traces on errors")
    .exitOverride()
    .configureHelp(HELP_CONFIG)
    .configureOutput({ writeOut: (s) => rt.out(s), writeErr: (s) => rt.err(s) });
  const self = () => program;
  const commands: CommandUnknownOpts[] = [
    ...[initCommand, checkConfigCommand, recordCommand, reconcileCommand, showCommand, logCommand, statusCommand, watchCommand, verifyCommand, recoverCommand, forgetCommand, compactCommand, doctorCommand, metricsCommand].map((make) => make(rt)),
    completionCommand(rt, self),
  ];
  const hidden: CommandUnknownOpts[] = [manCommand(rt, self, { version: VERSION, date: DATE })];
  for (const c of [...commands, ...hidden])
    program.addCommand(c.exitOverride().configureHelp(HELP_CONFIG).configureOutput({ writeOut: (s) => rt.out(s), writeErr: (s) => rt.err(s) }), {
      hidden: hidden.includes(c),
    });
  return program;
}

export async function main(argv: readonly string[], rt: Runtime = processRuntime): Promise<number> {
  const program = buildProgram(rt);
  try {
    await program.parseAsync([...argv], { from: "user" });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof StatusExit) return err.exitCode;
    const helped = err instanceof CommanderError && (err.code === "commander.helpDisplayed" || err.code === "commander.version" || (err.code === "commander.help" && err.exitCode === 0));
    if (helped) return EXIT.ok;
    // status and doctor are monitoring plugins: whatever stops them is UNKNOWN (3), said on stdout's first line
    const command = commandOf(argv);
    if (command !== undefined && PLUGIN_COMMANDS.includes(command)) {
      const msg = err instanceof CommanderError ? err.message.replace(/^error: /, "") : errorMessage(err);
      if (argv.includes("--json")) printJson(rt, unknownJson(msg));
      else rt.out(pluginLine("UNKNOWN", msg));
      return PLUGIN_CODE.UNKNOWN;
    }
    // commander printed its message (or, with no command, the usage) on stderr
    if (err instanceof CommanderError) return EXIT.usage;
    const debug = argv.includes("--debug");
    // an ExitError without message: the command already said everything
    if (!(err instanceof ExitError && err.message === "")) rt.err(`rmtabsync: ${errorMessage(err)}\n`);
    if (debug && err instanceof Error && err.stack) rt.err(`${err.stack}\n`);
    return err instanceof ExitError ? err.exitCode : EXIT.failure;
  }
}
