import { Command } from "@commander-js/extra-typings";
import { Daemon } from "../daemon.js";
import { UsageError } from "../errors.js";
import { spawn } from "node:child_process";
import { stderrLogger, systemdNotifier, type Logger } from "../io/systemd.js";
import { parseSeconds, readGlobals, syncContext, type GlobalOptions, type Runtime } from "./common.js";

function positiveMs(flag: string, v: string, unit: "ms" | "s"): number {
  const ms = unit === "ms" ? Number(v) : parseSeconds(flag, v);
  if (v.trim() === "" || !Number.isFinite(ms) || ms <= 0)
    throw new UsageError(`${flag}: expected a number of ${unit === "ms" ? "milliseconds" : "seconds"} > 0, found "${v}"`);
  // setTimeout/setInterval take at most 2^31-1 ms (about 24.8 days); more would fire at once.
  if (ms > 0x7fffffff) throw new UsageError(`${flag}: at most 2147483 seconds (24.8 days), found "${v}"`);
  return Math.round(ms);
}

/**
 * Refreshes the metrics textfile in a child process (`rmtabsync metrics
 * --textfile`), so the daemon never waits for it; at most one at a time and
 * at most every 15 s.
 */
function metricsRefresher(textfile: string, g: GlobalOptions, log: Logger): () => void {
  const GAP_MS = 5_000;
  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let last = 0;
  const run = () => {
    timer = undefined;
    if (running) {
      again = true;
      return;
    }
    running = true;
    last = Date.now();
    const args = [process.argv[1] ?? "rmtabsync", ...(g.config ? ["-c", g.config] : []), ...(g.node ? ["-n", g.node] : []), "metrics", "--textfile", textfile];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const done = (problem: string | undefined) => {
      running = false;
      if (problem) log.log("warning", `metrics refresh of ${textfile} failed: ${problem}`);
      if (again) {
        again = false;
        request();
      }
    };
    child.on("error", (e) => done(e.message));
    child.on("exit", (code) => done(code === 0 ? undefined : `exit ${code}: ${err.trim().split("\n")[0] ?? ""}`));
  };
  const request = () => {
    if (timer) return;
    timer = setTimeout(run, Math.max(0, last + GAP_MS - Date.now()));
    timer.unref();
  };
  return request;
}

export function watchCommand(rt: Runtime) {
  return new Command("watch")
    .description(
      "run as a daemon: record rmtab changes (and mountd's ha-callout spool) as they happen, reconcile when a peer journal changes and periodically; SIGTERM stops, SIGHUP reloads the configuration",
    )
    .option("--debounce <ms>", "after a piece of work that took more than one change (a storm), changes that came meanwhile wait this long and are then taken together (otherwise a change is taken at once)", "100")
    .option("--interval <seconds>", "reconcile at least this often", "60")
    .option("--poll <seconds>", "poll peer journals this often (inotify cannot see other nodes' writes), and re-arm a vanished or remounted directory", "1")
    .option("--lock-timeout <seconds>", "wait at most this long for mountd's rmtab lock per attempt", "10")
    .option("--backoff-max <seconds>", "longest wait between retries while the control volume is unusable", "60")
    .option("--metrics-textfile <path>", "after reconciles (at most every 5 s), refresh this node_exporter textfile with 'rmtabsync metrics'")
    .action(async (opts, cmd) => {
      const g = readGlobals(cmd.optsWithGlobals());
      if (g.json) throw new UsageError("--json: watch logs one line per message on stderr and prints no JSON document");
      const daemonOpts = {
        debounceMs: positiveMs("--debounce", opts.debounce, "ms"),
        intervalMs: positiveMs("--interval", opts.interval, "s"),
        pollMs: positiveMs("--poll", opts.poll, "s"),
        backoffMaxMs: positiveMs("--backoff-max", opts.backoffMax, "s"),
      };
      const log = stderrLogger(rt.err, { debug: g.debug === true });
      const load = () => {
        const ctx = syncContext({ ...g, lockTimeout: opts.lockTimeout }, rt);
        return { ...ctx, warn: (msg: string) => log.log("warning", msg) };
      };
      // A bad configuration at start-up is a usage error (exit 2): systemd
      // should not restart into the same mistake. Later, SIGHUP keeps the old one.
      const first = load();
      const notify = systemdNotifier({ env: rt.env, pid: process.pid, log });
      const afterReconcile = opts.metricsTextfile ? metricsRefresher(opts.metricsTextfile, g, log) : undefined;
      const daemon = new Daemon({ load, log, notify, afterReconcile }, first, { ...daemonOpts, backoffMinMs: Math.min(1000, daemonOpts.backoffMaxMs) });
      const onTerm = () => daemon.stop("SIGTERM");
      const onInt = () => daemon.stop("SIGINT");
      const onHup = () => daemon.reload();
      process.on("SIGTERM", onTerm);
      process.on("SIGINT", onInt);
      process.on("SIGHUP", onHup);
      try {
        await daemon.run();
      } finally {
        process.off("SIGTERM", onTerm);
        process.off("SIGINT", onInt);
        process.off("SIGHUP", onHup);
      }
    });
}
