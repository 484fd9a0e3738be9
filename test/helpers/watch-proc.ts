// A running `rmtabsync watch` (the real bundled CLI) for the daemon tests:
// its stderr lines, signals, and its exit.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { CLI, ROOT, type TestCluster } from "./cluster.js";
import { sleep, waitFor } from "./mountd-daemon.js";

/** The shipped ha-callout for rpc.mountd. */
export const CALLOUT = join(ROOT, "deploy/mountd-callout");

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export { sleep };

/** Polls `cond` until it returns something other than undefined/false; throws after timeoutMs (15 s). */
export function until<T>(what: string, cond: () => T | undefined | false, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  return waitFor(what, cond, timeoutMs, everyMs);
}

export class WatchProc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<Exit>;
  private partial = "";

  constructor(
    readonly cluster: TestCluster,
    readonly node: string,
    args: string[] = [],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(process.execPath, [CLI, "-c", cluster.configFile(node), "-n", node, "watch", "--debug", ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NOTIFY_SOCKET: "", WATCHDOG_USEC: "", ...env },
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      const text = this.partial + d.toString("utf8");
      const parts = text.split("\n");
      this.partial = parts.pop() ?? "";
      this.lines.push(...parts);
    });
    this.child.stdout!.on("data", (d: Buffer) => this.lines.push(`stdout: ${d.toString("utf8")}`));
    this.exited = new Promise((resolve) => this.child.on("exit", (code, signal) => resolve({ code, signal })));
  }

  get log(): string {
    return this.lines.join("\n");
  }

  /** Index of the first line at or after `from` matching `re`. */
  find(re: RegExp, from = 0): number {
    for (let i = from; i < this.lines.length; i++) if (re.test(this.lines[i]!)) return i;
    return -1;
  }

  /** Waits for a log line matching `re` (at or after line `from`); returns its index. */
  async waitFor(re: RegExp, opts: { from?: number; timeoutMs?: number } = {}): Promise<number> {
    try {
      return await until(`watch log line ${re}`, () => {
        const i = this.find(re, opts.from ?? 0);
        if (i >= 0) return i;
        if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`watch exited (${this.child.exitCode ?? this.child.signalCode})`);
        return undefined;
      }, opts.timeoutMs ?? 15_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- watch log ---\n${this.log}`);
    }
  }

  /** Waits until the first reconcile finished (the daemon is settled). */
  async ready(): Promise<void> {
    await this.waitFor(/^<7>reconcile done/);
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** SIGTERM and wait for the exit. */
  async stop(): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.signal("SIGTERM");
    return this.exited;
  }
}
