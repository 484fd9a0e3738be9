// Typed errors. Commands throw; only src/cli.ts turns them into exit codes.

export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  refused: 3,
} as const;

/** An error that carries the process exit code it should end with. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line or configuration (exit 2). */
export class UsageError extends ExitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.usage, options);
  }
}

/** Configuration file problems: each names the file, the key, expected and found (exit 2). */
export class ConfigError extends UsageError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid configuration ${file}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
  }
}

/** rmtabsync refused to act so that no data is lost (exit 3). */
export class RefusedError extends ExitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.refused, options);
  }
}

/** The rmtab lock could not be had in time (exit 3, nothing written). */
export class LockTimeoutError extends RefusedError {}

/** A journal that cannot be opened or read; names the file. */
export class JournalError extends ExitError {
  constructor(
    readonly file: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`journal ${file}: ${problem}`, EXIT.failure, options);
  }
}

/** Why a file or directory could not be read, in plain words instead of "ENOENT ... scandir". */
export function fsProblem(err: unknown): string {
  switch ((err as NodeJS.ErrnoException | undefined)?.code) {
    case "ENOENT":
      return "does not exist";
    case "ENOTDIR":
      return "is not a directory";
    case "EACCES":
    case "EPERM":
      return "cannot be read (permission denied)";
    case "EIO":
      return "cannot be read (I/O error)";
    default:
      return `cannot be read (${errorMessage(err)})`;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Ends the process with a status code after the command printed its own report (nothing more is printed). */
export class StatusExit extends ExitError {
  constructor(exitCode: number) {
    super("", exitCode);
  }
}
