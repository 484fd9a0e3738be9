// rpc.mountd's state directory (config key stateDir): rmtab, etab and .rmtab.lock live there.
import { statSync } from "node:fs";
import type { Config } from "../config.js";
import { ConfigError, fsProblem } from "../errors.js";

/** Why the state directory cannot be used, or undefined when it is a directory. */
export function stateDirProblem(dir: string): string | undefined {
  try {
    return statSync(dir).isDirectory() ? undefined : "is not a directory";
  } catch (err) {
    return fsProblem(err);
  }
}

/** The configuration error for a stateDir that cannot be used, naming the key and the path; undefined when it can. */
export function stateDirError(cfg: Pick<Config, "file" | "stateDir">): ConfigError | undefined {
  const problem = stateDirProblem(cfg.stateDir);
  return problem === undefined
    ? undefined
    : new ConfigError(cfg.file, [`stateDir: expected rpc.mountd's state directory (holding rmtab, etab and .rmtab.lock), found "${cfg.stateDir}", which ${problem}`]);
}

export function requireStateDir(cfg: Pick<Config, "file" | "stateDir">): void {
  const err = stateDirError(cfg);
  if (err) throw err;
}
