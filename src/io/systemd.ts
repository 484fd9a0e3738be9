// The daemon's two channels to systemd: log lines on stderr with syslog
// priority prefixes (journald keeps the level), and sd_notify messages.
//
// sd_notify needs a unix DATAGRAM socket ($NOTIFY_SOCKET); Node's net and
// dgram modules have none. Instead of a native module (sd-notify links
// libsystemd, unix-dgram needs node-gyp) we run systemd's own
// `systemd-notify --pid=<our pid> VAR=VALUE...`: it ships with systemd, it
// waits by default until systemd has processed the message (sd_notify_barrier,
// systemd >= 246, so the sender exiting early cannot lose it), and as root it
// sends with our PID as the credentials. The unit still says NotifyAccess=all
// so a hardened unit without CAP_SYS_ADMIN works too. A message costs one
// short-lived process: READY once, STATUS on state changes, WATCHDOG=1 every
// WatchdogSec/2.
import { spawn } from "node:child_process";

/** syslog priorities, as sd-daemon(3) prefixes: <3> error ... <7> debug. */
export const PRIORITY = { err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;
export type Level = keyof typeof PRIORITY;

export interface Logger {
  log(level: Level, msg: string): void;
}

/** A logger writing `<N>message` lines; debug lines only when `debug` is set. */
export function stderrLogger(write: (text: string) => void, opts: { debug: boolean }): Logger {
  return {
    log(level, msg) {
      if (level === "debug" && !opts.debug) return;
      // One message, one line: journald would split a multi-line message and lose the level.
      for (const line of msg.split("\n")) write(`<${PRIORITY[level]}>${line}\n`);
    },
  };
}

export interface Notifier {
  /** True when systemd asked for notifications ($NOTIFY_SOCKET). */
  readonly enabled: boolean;
  /** Watchdog interval systemd expects pings within (ms), or undefined. */
  readonly watchdogMs: number | undefined;
  send(assignments: Record<string, string>): void;
  /** Resolves when every message sent so far was delivered (or failed). */
  flush(): Promise<void>;
}

export interface NotifierOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly pid: number;
  readonly log: Logger;
  /** The systemd-notify binary (default: found on PATH). */
  readonly bin?: string;
}

/** Watchdog interval from $WATCHDOG_USEC when it is meant for this process ($WATCHDOG_PID). */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 1000));
}

export function systemdNotifier(opts: NotifierOptions): Notifier {
  const enabled = !!opts.env.NOTIFY_SOCKET;
  const bin = opts.bin ?? "systemd-notify";
  const inflight = new Set<Promise<void>>();
  let complained = false;
  return {
    enabled,
    watchdogMs: enabled ? watchdogInterval(opts.env, opts.pid) : undefined,
    send(assignments) {
      if (!enabled) return;
      const args = [`--pid=${opts.pid}`, ...Object.entries(assignments).map(([k, v]) => `${k}=${v.replace(/\n/g, " ")}`)];
      const p = new Promise<void>((resolve) => {
        const child = spawn(bin, args, { stdio: ["ignore", "ignore", "pipe"], env: opts.env });
        let err = "";
        child.stderr.on("data", (d: Buffer) => (err += d.toString()));
        child.on("error", (e) => {
          if (!complained) opts.log.log("warning", `cannot notify systemd: ${bin}: ${e.message} (install systemd, or run without Type=notify)`);
          complained = true;
          resolve();
        });
        child.on("close", (code) => {
          if (code !== 0 && !complained) {
            opts.log.log("warning", `cannot notify systemd: ${bin} ${args.join(" ")} exited ${code}: ${err.trim()}`);
            complained = true;
          }
          resolve();
        });
      });
      inflight.add(p);
      void p.then(() => inflight.delete(p));
    },
    async flush() {
      await Promise.all([...inflight]);
    },
  };
}
