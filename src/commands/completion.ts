import { Argument, Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { bashCompletion } from "../cli-doc/completion.js";
import { UsageError } from "../errors.js";
import { readGlobals, type Runtime } from "./common.js";

export function completionCommand(rt: Runtime, program: () => CommandUnknownOpts) {
  return new Command("completion")
    .description("print a shell completion script (installed by the package as /usr/share/bash-completion/completions/rmtabsync)")
    .addArgument(new Argument("<shell>", "the shell").choices(["bash"] as const))
    .action((_shell, _opts, cmd) => {
      if (readGlobals(cmd.optsWithGlobals()).json) throw new UsageError("--json: completion prints a shell script, not JSON");
      rt.out(bashCompletion(program()));
    });
}
