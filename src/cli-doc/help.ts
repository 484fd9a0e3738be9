// How the command line describes itself: the one rendering of option
// descriptions and defaults shared by --help, the man page and completion.
import { Help, type CommandUnknownOpts, type Option } from "@commander-js/extra-typings";

/** A default as a user types it: 30d, not "30d"; nothing for an empty repeatable option. */
export function defaultText(option: Option): string | undefined {
  const v: unknown = option.defaultValue;
  if (v === undefined || v === false) return undefined;
  if (option.defaultValueDescription) return option.defaultValueDescription;
  if (Array.isArray(v)) return v.length === 0 ? undefined : v.join(", ");
  return String(v);
}

/** The option's description with its default, unquoted. */
export function optionDescription(option: Option): string {
  const def = defaultText(option);
  return def === undefined ? option.description : `${option.description} (default: ${def})`;
}

/** Options that take a value repeat when their default is a list. */
export function repeatable(option: Option): boolean {
  return Array.isArray(option.defaultValue);
}

/** The value's name from the flags: "--keep <duration>" -> "duration". */
export function valueName(option: Option): string | undefined {
  return /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1];
}

/** Help settings for every command: global options shown, defaults unquoted. */
export const HELP_CONFIG = { showGlobalOptions: true, optionDescription } as const;

const help = new Help();

/** The subcommands a user sees (not hidden, not commander's implicit help). */
export function visibleCommands(cmd: CommandUnknownOpts): CommandUnknownOpts[] {
  return help.visibleCommands(cmd).filter((c) => c.name() !== "help");
}

/** A command's own options a user sees (no -h). */
export function visibleOptions(cmd: CommandUnknownOpts): Option[] {
  return cmd.options.filter((o) => !o.hidden);
}
