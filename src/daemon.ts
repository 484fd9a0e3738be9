// The long-running `rmtabsync watch` loop. Events are hints, the files are
// the truth: every event only schedules a record or a reconcile, which reads
// rmtab, the spool and the journals afresh. One piece of work runs at a time.
//
// What it watches, with chokidar: two directories, non-recursive. The state
// directory with native events (inotify) and `atomic` off, since mountd
// replaces rmtab by renaming rmtab.tmp over it and that rename must be seen
// at once; and the journals directory on the control volume by polling
// (`usePolling`, every --poll seconds), since inotify never reports writes
// made by ANOTHER node to a shared or replicated filesystem. What chokidar
// does not do (test/chokidar.test.ts): notice that a watched directory was
// replaced under it (the control volume unmounted, remounted) or came back
// after it vanished. So the --poll timer still compares each directory's
// device and inode, and re-arms a watch whose directory changed.
//
// With export groups, every control directory's journals directory is
// watched (src/units.ts runs the per-group passes): a group's is there only
// while its volume is mounted here. A group volume that appears (takeover)
// or goes (release) is a reconcile: its lines come back from its journals,
// or leave this node's rmtab.
import { createHash } from "node:crypto";
import { readFileSync, realpathSync, statSync } from "node:fs";
import { watch, type FSWatcher } from "chokidar";
import { basename, dirname, join } from "node:path";
import { controlUnits, journalFile, paths } from "./config.js";
import { ConfigError, errorMessage, ExitError, JournalError, LockTimeoutError, RefusedError } from "./errors.js";
import type { Level, Logger, Notifier } from "./io/systemd.js";
import { SPOOL_NAME } from "./io/spool.js";
import { describeProblems } from "./io/control.js";
import { listed } from "./commands/format.js";
import type { Config } from "./config.js";
import { reconcile, record, type ReconcileReport, type RecordReport, type SyncContext } from "./sync.js";
import { Schedule, type Work } from "./schedule.js";
import { reconcileUnits, recordUnits, unitsError, type UnitsReport } from "./units.js";

export interface DaemonOptions {
  /** How long changes that keep coming while work runs wait after it, to be taken together (ms); see src/schedule.ts. */
  readonly debounceMs: number;
  /** Safety reconcile period (ms). */
  readonly intervalMs: number;
  /** Peer journal poll period, and how often a vanished or replaced directory is re-armed (ms). */
  readonly pollMs: number;
  /** First and longest retry delay after a failure (ms). */
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_DAEMON_OPTIONS: DaemonOptions = {
  debounceMs: 100,
  intervalMs: 60_000,
  pollMs: 1_000,
  backoffMinMs: 1_000,
  backoffMaxMs: 60_000,
};

export interface DaemonDeps {
  /** Reads the configuration (again, on reload) and resolves this node. Throws on a bad config. */
  readonly load: () => SyncContext;
  readonly log: Logger;
  readonly notify: Notifier;
  /** Runs after every successful reconcile (e.g. refreshes the metrics textfile). */
  readonly afterReconcile?: () => void;
}

interface Armed {
  readonly dir: string;
  readonly id: string;
  readonly watcher: FSWatcher;
}

function dirId(dir: string): string | undefined {
  try {
    const st = statSync(dir);
    return st.isDirectory() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the local files look like: rmtab's content (a hash: an in-place count
 * update keeps size and, within one clock tick, mtime) and the spool's
 * inode and size (append-only). Taken under mountd's lock at the end of each
 * piece of work, from rmtab as that work read or wrote it (a writer that
 * does not take the lock may have changed the file since), so an event
 * whose files still look the same was caused by our own work (the spool
 * renamed away, rmtab rewritten by reconcile) and needs no record. Anything
 * mountd does later changes it.
 */
function localSignature(cfg: Config, content?: Buffer): string {
  const p = paths(cfg);
  let rmtab = "-";
  try {
    rmtab = createHash("sha1").update(content ?? readFileSync(p.rmtab)).digest("hex");
  } catch {
    /* missing: "-" */
  }
  let spool = "-";
  try {
    const st = statSync(join(cfg.stateDir, SPOOL_NAME));
    spool = `${st.ino}:${st.size}`;
  } catch {
    /* none */
  }
  return `${rmtab}|${spool}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function summary(r: RecordReport): string {
  const shown = r.recorded.slice(0, 5).map((e) => `${e.op} ${e.client} ${e.path} ${e.count}`);
  return shown.join(", ") + (r.recorded.length > shown.length ? `, ... (${r.recorded.length - shown.length} more)` : "");
}

export class Daemon {
  private ctx: SyncContext;
  private readonly opts: DaemonOptions;
  private stopping = false;
  private readonly schedule: Schedule;
  private failures = 0;
  private ready = false;
  private status = "";
  private lastNotes = new Map<string, string>();
  private readonly watches = new Map<string, Armed>();
  private timers: NodeJS.Timeout[] = [];
  /** localSignature() at the end of the last successful piece of work (under the lock). */
  private seen: string | undefined;
  private finished!: () => void;
  private readonly done = new Promise<void>((r) => (this.finished = r));

  constructor(
    private readonly deps: DaemonDeps,
    first: SyncContext,
    opts: Partial<DaemonOptions> = {},
  ) {
    this.ctx = first;
    this.opts = { ...DEFAULT_DAEMON_OPTIONS, ...opts };
    this.schedule = new Schedule(
      {
        now: Date.now,
        setTimer: (fn, ms) => setTimeout(fn, ms),
        clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
        run: (kind) => this.work(kind),
        unchanged: () => {
          const same = this.unchanged();
          if (same) this.log("debug", "record skipped: rmtab and the spool are as the last piece of work left them");
          return same;
        },
      },
      this.opts.debounceMs,
    );
  }

  private log(level: Level, msg: string): void {
    this.deps.log.log(level, msg);
  }

  /** Starts watching; resolves once stop() has finished the work in flight. */
  run(): Promise<void> {
    const p = paths(this.ctx.cfg);
    const journals = [...this.wanted().entries()].filter(([k]) => k.startsWith("journals")).map(([, w]) => w.dir);
    this.log(
      "info",
      `watching ${p.rmtab} and ${journals.join(", ")} as node ${this.ctx.node} of cluster ${this.ctx.cfg.cluster} (debounce ${this.opts.debounceMs} ms, poll ${this.opts.pollMs / 1000} s, reconcile every ${this.opts.intervalMs / 1000} s)`,
    );
    this.arm();
    this.timers.push(setInterval(() => this.poll(), this.opts.pollMs));
    this.timers.push(setInterval(() => this.request("reconcile"), this.opts.intervalMs));
    const wd = this.deps.notify.watchdogMs;
    if (wd !== undefined) {
      this.log("debug", `systemd watchdog: ${wd} ms, pinging every ${Math.max(1, Math.floor(wd / 2))} ms`);
      this.timers.push(setInterval(() => this.deps.notify.send({ WATCHDOG: "1" }), Math.max(1, Math.floor(wd / 2))));
    }
    this.request("reconcile");
    return this.done;
  }

  /** Stops: no new work; the work in flight finishes (and releases the lock) first. */
  stop(why: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.log("info", `${why}: stopping${this.schedule.busy ? " after the work in flight" : ""}`);
    this.deps.notify.send({ STOPPING: "1", STATUS: "stopping" });
    this.schedule.stop();
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    this.disarm();
    void (this.schedule.busy ?? Promise.resolve())
      .then(() => this.deps.notify.flush())
      .then(() => {
        this.log("info", "stopped");
        this.finished();
      });
  }

  /** Re-reads the configuration; a bad one is reported and the one in force kept. */
  reload(): void {
    if (this.stopping) return;
    let next: SyncContext;
    try {
      next = this.deps.load();
    } catch (err) {
      this.log("err", `reloading the configuration failed, keeping the one in force (${this.ctx.cfg.file}): ${errorMessage(err)}`);
      this.setStatus(`config reload failed; running with the previous configuration`);
      return;
    }
    this.ctx = next;
    this.seen = undefined;
    this.log("info", `configuration reloaded from ${next.cfg.file} (node ${next.node}, ${plural(next.cfg.exports.length, "export")})`);
    this.disarm();
    this.arm();
    this.failures = 0;
    this.schedule.clearBackoff();
    this.request("reconcile");
  }

  // ---- scheduling: src/schedule.ts -------------------------------------

  private request(kind: Work): void {
    if (this.stopping) return;
    this.schedule.request(kind);
  }

  /** Whether rmtab and the spool are as the last successful piece of work left them (seen under the lock). */
  private unchanged(): boolean {
    return this.seen !== undefined && localSignature(this.ctx.cfg) === this.seen;
  }

  /** One piece of work; resolves to how many local changes it journaled (see src/schedule.ts). */
  private async work(kind: Work): Promise<number> {
    let sig: string | undefined;
    const base = this.ctx;
    const ctx: SyncContext = { ...base, insideLock: (rmtab) => (sig = localSignature(base.cfg, rmtab)) };
    if (kind === "record" && this.unchanged()) {
      this.log("debug", "record skipped: rmtab and the spool are as the last piece of work left them");
      return 0;
    }
    let took = 0;
    const started = Date.now();
    this.log("debug", `${kind} started`);
    try {
      if (base.cfg.groups.length > 0) {
        // every control directory: the shared one (if any) and each group's mounted here
        const all = kind === "reconcile" ? await reconcileUnits(ctx) : await recordUnits(ctx);
        this.reportUnits(kind, all);
        for (const u of all.units) if (u.state === "done") took += u.report.recorded.length;
        // the other groups' work is done even when one failed: the textfile shows both (a failing group as its state)
        if (kind === "reconcile") this.deps.afterReconcile?.();
        const err = unitsError(all);
        if (err) throw err;
      } else if (kind === "reconcile") {
        const r = await reconcile(ctx);
        took = r.recorded.length;
        this.reportReconcile(r, "");
        this.deps.afterReconcile?.();
      } else {
        const r = await record(ctx);
        took = r.recorded.length;
        this.reportRecord(r, "");
      }
      this.seen = sig;
      this.log("debug", `${kind} done in ${Date.now() - started} ms`);
      if (this.failures > 0) {
        this.log("notice", `${kind} works again after ${plural(this.failures, "failure")}; catching up with a reconcile`);
        this.failures = 0;
        this.schedule.clearBackoff();
        if (kind === "record") this.schedule.request("reconcile");
      }
      this.setStatus(`ok: last ${kind} ${new Date().toISOString()}`);
    } catch (err) {
      this.seen = undefined;
      this.failures++;
      const delay = Math.min(this.opts.backoffMaxMs, this.opts.backoffMinMs * 2 ** Math.min(20, this.failures - 1));
      this.schedule.retry(kind, delay); // whatever mountd changed stays in rmtab and the spool
      const level: Level = err instanceof LockTimeoutError ? "warning" : "err";
      const what = err instanceof RefusedError || err instanceof JournalError || err instanceof ConfigError || err instanceof ExitError ? "" : " (unexpected)";
      this.log(level, `${kind} failed${what}: ${errorMessage(err)}; retry ${this.failures} in ${delay / 1000} s`);
      this.setStatus(`degraded: ${kind} failed ${plural(this.failures, "time")}: ${errorMessage(err).split("\n")[0]}`);
    } finally {
      if (!this.ready && !this.stopping) {
        this.ready = true;
        this.deps.notify.send({ READY: "1", STATUS: this.status });
      }
    }
    return took;
  }

  /** `pre`: "" for the one control directory, "group NAME: " for a group's. */
  private reportRecord(r: RecordReport, pre: string): void {
    if (r.recorded.length > 0) this.log("info", `${pre}recorded ${plural(r.recorded.length, "change")}: ${summary(r)}`);
    for (const l of listed(r.ignored.listed(), (i) => `not recorded: ${i.client} ${i.path} (${i.reason})`, "lines not recorded", (i) => i.export)) this.log("debug", `${pre}${l}`);
    for (const l of r.ignored.summaries()) this.log("debug", `${pre}not recorded: ${l}`);
    this.note(`${pre}malformed`, r.malformed.map((m) => `${pre}rmtab line ${m.line}: ${m.problem}`).join("; "), "warning");
    this.note(`${pre}problems`, r.problems.map((p) => `${pre}${p.file}: ${p.problem}`).join("; "), "warning");
  }

  private reportReconcile(r: ReconcileReport, pre: string): void {
    this.reportRecord(r, pre);
    this.note(`${pre}addonly`, r.addOnly ? `${pre}add-only mode, no entry was removed: ${describeProblems(r.problems)}` : "", "warning");
    if (r.written)
      this.log("info", `${pre}${r.rmtab} rewritten: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed, ${r.entries} entries`);
    for (const u of r.unwritable) this.log("warning", `${pre}cannot write ${u.client} ${u.path} to rmtab: ${u.problem}`);
    for (const q of r.quarantined) this.log("warning", `${pre}quarantined rmtab line ${q.line} (${q.problem})`);
  }

  private reportUnits(kind: Work, all: UnitsReport<RecordReport | ReconcileReport>): void {
    for (const u of all.units) {
      const pre = u.unit.group !== undefined ? `group ${u.unit.name}: ` : "";
      // a group not mounted here is served elsewhere: said once, when that starts
      this.note(`${pre}absent`, u.state === "absent" ? `${pre}not here: ${u.reason}` : "", "info");
      if (u.state !== "done") continue;
      if (kind === "reconcile") this.reportReconcile(u.report as ReconcileReport, pre);
      else this.reportRecord(u.report, pre);
    }
    if (all.released.length > 0)
      this.log("info", `${all.rmtab} rewritten: ${plural(all.released.length, "line")} of groups not mounted here removed (${all.released.map((l) => `${l.client} ${l.path}`).join(", ")})`);
  }

  /** Logs a condition when it starts or changes, and when it clears. */
  private note(key: string, text: string, level: Level): void {
    const before = this.lastNotes.get(key) ?? "";
    if (text === before) return;
    this.lastNotes.set(key, text);
    if (text) this.log(level, text);
    else this.log("info", `cleared: ${before}`);
  }

  private setStatus(s: string): void {
    if (s.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, "") === this.status.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/, "")) {
      this.status = s;
      return;
    }
    this.status = s;
    if (this.ready) this.deps.notify.send({ STATUS: s });
  }

  // ---- watching ---------------------------------------------------------

  /** The directories to watch now: key -> (dir, the names that matter, polled?, what they schedule). */
  private wanted(): Map<string, Wanted> {
    const p = paths(this.ctx.cfg);
    const rmtab = basename(p.rmtab);
    const local = new Set([rmtab, `${rmtab}.tmp`, SPOOL_NAME]);
    const etab = basename(p.etab);
    const out = new Map<string, Wanted>();
    out.set("state", {
      dir: this.ctx.cfg.stateDir,
      polled: false,
      wants: (name) => local.has(name) || name === etab,
      onName: (name) => this.request(name === etab ? "reconcile" : "record"),
    });
    // the shared control directory's journals ("journals"), and each group's ("journals NAME")
    for (const u of controlUnits(this.ctx.cfg)) {
      const journals = paths(u.cfg).journals;
      const own = basename(journalFile(journals, this.ctx.node));
      const group = u.group !== undefined ? `group ${u.name}` : undefined;
      out.set(group === undefined ? "journals" : `journals ${u.name}`, {
        dir: journals,
        polled: true,
        group,
        wants: (name) => name.endsWith(".sqlite") && name !== own,
        onName: () => {
          this.log("debug", `a peer journal changed${group === undefined ? "" : ` (${group})`}`);
          this.request("reconcile");
        },
      });
    }
    // A symlinked rmtab: mountd renames onto (and writes in place) the link's target.
    try {
      const target = realpathSync(p.rmtab);
      if (dirname(target) !== realpathSync(this.ctx.cfg.stateDir)) {
        const name = basename(target);
        out.set("rmtab target", {
          dir: dirname(target),
          polled: false,
          wants: (n) => n === name || n === `${rmtab}.tmp`,
          onName: () => this.request("record"),
        });
      }
    } catch {
      /* no rmtab yet, or a dangling link: the state directory watch and the interval cover it */
    }
    return out;
  }

  /** Arms every wanted watch not armed yet; returns true when all are armed but those of groups not mounted here. */
  private arm(): boolean {
    let all = true;
    const wanted = this.wanted();
    // a group gone from the configuration (reload)
    for (const [key, cur] of this.watches)
      if (!wanted.has(key)) {
        void cur.watcher.close();
        this.watches.delete(key);
      }
    for (const [key, w] of wanted) {
      const cur = this.watches.get(key);
      if (cur && cur.dir === w.dir) continue;
      if (cur) void cur.watcher.close();
      this.watches.delete(key);
      const armed = this.tryWatch(key, w);
      if (armed) this.watches.set(key, armed);
      else if (w.group === undefined) all = false;
    }
    return all;
  }

  private tryWatch(key: string, w: Wanted): Armed | undefined {
    const { dir } = w;
    const id = dirId(dir);
    if (id === undefined) {
      if (w.group !== undefined) this.note(`watch:${dir}`, `${w.group}: ${dir} is not here (the group's volume is not mounted on this node); watching for it`, "info");
      else this.note(`watch:${dir}`, `cannot watch ${dir}: not a directory or missing; polling until it is back`, "warning");
      return undefined;
    }
    const watcher = watch(dir, {
      persistent: true,
      ignoreInitial: true,
      depth: 0,
      followSymlinks: false,
      atomic: false,
      usePolling: w.polled,
      interval: this.opts.pollMs,
      binaryInterval: this.opts.pollMs,
      // only the names that matter are stat'ed (and, polled, watched)
      ignored: (path: string) => path !== dir && !w.wants(basename(path)),
    });
    watcher.on("all", (_event, path) => {
      if (dirname(path) === dir && w.wants(basename(path))) w.onName(basename(path));
    });
    // chokidar's own events come after its stat and may be late or missing
    // while a file replaced by rename gets its new watch (bench:watch saw a
    // change wait 31 s): with native events, the inotify event itself counts
    if (!w.polled)
      watcher.on("raw", (_event, name) => {
        if (typeof name === "string" && name !== "" && w.wants(basename(name))) w.onName(basename(name));
      });
    // a local change made before "ready" is not reported: look once more (the record is skipped when nothing changed)
    if (!w.polled) watcher.on("ready", () => this.request("record"));
    watcher.on("error", (err) => {
      this.log("warning", `watch on ${dir} failed: ${errorMessage(err)}; re-arming`);
      void watcher.close();
      if (this.watches.get(key)?.watcher === watcher) this.watches.delete(key);
    });
    this.note(`watch:${dir}`, "", "info");
    return { dir, id, watcher };
  }

  private disarm(): void {
    for (const w of this.watches.values()) void w.watcher.close();
    this.watches.clear();
  }

  private poll(): void {
    if (this.stopping) return;
    // Re-arm a watch whose directory went away or was replaced (remounted volume).
    let gap = false;
    for (const [key, w] of this.watches) {
      if (dirId(w.dir) !== w.id) {
        this.log("info", `${w.dir} changed under its watch (unmounted or remounted?); re-arming`);
        void w.watcher.close();
        this.watches.delete(key);
        gap = true;
      }
    }
    const before = this.watches.size;
    const all = this.arm();
    // Back after a gap: events may have been missed; the files are the truth.
    if (all && (gap || this.watches.size > before)) this.request("reconcile");
  }
}

interface Wanted {
  readonly dir: string;
  /** Polled (the control volume: peers write it) rather than native events. */
  readonly polled: boolean;
  /** "group NAME" for a group's journals: missing while the group's volume is not mounted here, which is normal. */
  readonly group?: string;
  /** Whether a name in `dir` is one to watch. */
  readonly wants: (name: string) => boolean;
  readonly onName: (name: string) => void;
}
