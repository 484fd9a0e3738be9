import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { manPage, type ManMeta } from "../cli-doc/man.js";
import type { Runtime } from "./common.js";

/** Hidden: prints rmtabsync(8) in roff (npm run man writes deploy/man/rmtabsync.8). */
export function manCommand(rt: Runtime, program: () => CommandUnknownOpts, meta: ManMeta) {
  return new Command("man").description("print the manual page rmtabsync(8) in roff").action(() => {
    rt.out(manPage(program(), meta));
  });
}
