// rmtabsync watch benchmark: what the daemon and the ha-callout cost.
//
//   1. latency from an rmtab change (made the way rpc.mountd makes it: under
//      its fcntl lock, callout first, then rmtab; timed from the rmtab write)
//      to the committed journal event, under a running `rmtabsync watch`
//      with its default settings (--poll BENCH_WATCH_POLL); median and p99
//      over BENCH_WATCH_CHANGES (1000) changes, one at a time; then the
//      latency from a peer's commit (one event written straight into the
//      peer's journal, bench/journal-rows.ts) to this node's rmtab renamed
//      with it, over BENCH_WATCH_PEER (100) commits at random phases of the
//      poll; both with BENCH_WATCH_ENTRIES (0) entries in rmtab (half per node);
//   2. the ha-callout's latency per call (what mountd waits for on every
//      MNT/UMNT), beside /bin/true and a Node start-up for scale;
//   3. the daemon's RSS after one hour's worth of churn, compressed in time
//      (see churn() below), then the latency again on the hour-old journals.
//
//   npm run build && npx esbuild bench/watch.ts --bundle --platform=node --target=node20 \
//     --format=cjs --external:better-sqlite3 --external:os-lock --external:fsevents \
//     --outfile=dist/bench-watch.js && node dist/bench-watch.js
//   (or add bench/watch.ts -> dist/bench-watch.js to scripts/build.mjs like bench/bench.ts)
//   BENCH_WATCH_CHANGES=200 BENCH_WATCH_HOUR=600 node dist/bench-watch.js   (quicker)
//   BENCH_WATCH_ENTRIES=100000 BENCH_WATCH_CHANGES=100 BENCH_WATCH_PEER=50 BENCH_WATCH_HOUR=0 BENCH_WATCH_CALLS=0 node dist/bench-watch.js
//     (what `npm run bench` runs for its daemon rows: latency only, at 100k entries)
//   BENCH_WATCH_HOUR=0 skips the churn (3), BENCH_WATCH_CALLS=0 the callout (2), BENCH_WATCH_PEER=0 the peer latency;
//   BENCH_WATCH_POLL=<seconds> is the daemon's --poll (default 1, its own default);
//   BENCH_CLI=<path to a dist/cli.js> runs another build's CLI (e.g. a baseline checkout).
//
// The full run takes about 13 minutes on 2 busy cores, most of it the hour
// of churn: every record and reconcile reads every journal event, so each
// step costs more as the hour's 7200+ events pile up.
//
// Progress goes to stderr; the results and one JSON line go to stdout.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import Database from "better-sqlite3";
import { loadConfig } from "../src/config.js";
import { withRmtabLock } from "../src/io/lock.js";
import { record, type SyncContext } from "../src/sync.js";
import { JournalRows } from "./journal-rows.js";
import { mountpointKeyFor } from "./cli-build.js";

// dist/bench-watch.js is a CommonJS bundle next to dist/cli.js.
const ROOT = resolve(dirname(process.argv[1] ?? "dist/bench-watch.js"), "..");
const CLI = process.env.BENCH_CLI ? resolve(process.env.BENCH_CLI) : join(ROOT, "dist", "cli.js");
const CALLOUT = join(ROOT, "deploy", "mountd-callout");

let mountpointKeyLine: string | undefined;
function mountpointKey(): string {
  return (mountpointKeyLine ??= mountpointKeyFor(CLI));
}

function envInt(name: string, dflt: number, min = 1): number {
  const v = process.env[name];
  if (!v) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: "${v}" is not an integer >= ${min}`);
  return n;
}

const CHANGES = envInt("BENCH_WATCH_CHANGES", 1000);
/** Local rmtab changes (and as many peer journal events) that stand for one hour: one of each per second. 0: no churn. */
const HOUR = envInt("BENCH_WATCH_HOUR", 3600, 0);
const CALLS = envInt("BENCH_WATCH_CALLS", 1000, 0);
/** rmtab entries before the latency runs (half on each node's export, every rmtab holding all). */
const ENTRIES = envInt("BENCH_WATCH_ENTRIES", 0, 0);
const PEER = envInt("BENCH_WATCH_PEER", 100, 0);
/** The daemon's --poll (ms), default its own default. */
const POLL_MS = Math.round(Number(process.env.BENCH_WATCH_POLL ?? "1") * 1000);
if (!(POLL_MS > 0)) throw new Error(`BENCH_WATCH_POLL: "${process.env.BENCH_WATCH_POLL}" is not a positive number of seconds`);

const t0 = Date.now();
function progress(msg: string): void {
  process.stderr.write(`[bench-watch ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}
const median = (xs: readonly number[]) => quantile(xs, 0.5);

function line(client: string, path: string, count: number): string {
  return `${client}:${path}:0x${count.toString(16).padStart(8, "0")}\n`;
}

// ---------------------------------------------------------------- a two-node cluster

interface Bench {
  readonly root: string;
  readonly control: string;
  stateDir(node: string): string;
  configFile(node: string): string;
}

function cli(b: Bench, node: string, args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, "-c", b.configFile(node), "-n", node, ...args], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`rmtabsync ${args.join(" ")} on ${node} failed: ${r.stderr}`);
  return r.stdout;
}

function makeCluster(entries = 0): Bench {
  const root = mkdtempSync(join(tmpdir(), "rmtabsync-bench-watch-"));
  const control = join(root, "control");
  mkdirSync(control);
  const b: Bench = {
    root,
    control,
    stateDir: (n) => join(root, "state", n),
    configFile: (n) => join(root, `${n}.yaml`),
  };
  for (const [n, exp] of [
    ["ds03", "/srv/vm0"],
    ["ds04", "/srv/vm1"],
  ] as const) {
    mkdirSync(b.stateDir(n), { recursive: true });
    writeFileSync(
      b.configFile(n),
      `cluster: bench\ncontrolDir: ${control}\n${mountpointKey()}stateDir: ${b.stateDir(n)}\nnodes: [ds03, ds04]\nexports:\n  - name: vm0\n    path: /srv/vm0\n  - name: vm1\n    path: /srv/vm1\n`,
    );
    writeFileSync(join(b.stateDir(n), "etab"), `${exp}\t*(rw,sync,no_subtree_check,fsid=1)\n`);
    if (entries > 0) {
      // this node's half of the entries, on its export (clients 172.16.0.0/12, apart from the ones the runs use)
      const lines: string[] = [];
      for (let i = 0; i < entries / 2; i++) lines.push(line(`172.${16 + (i >>> 16)}.${(i >>> 8) & 255}.${i & 255}`, exp, 1));
      writeFileSync(join(b.stateDir(n), "rmtab"), lines.join(""));
    }
    cli(b, n, ["init"]);
  }
  if (entries > 0) {
    for (const n of ["ds03", "ds04"]) cli(b, n, ["record"]);
    for (const n of ["ds03", "ds04", "ds03"]) cli(b, n, ["reconcile"]);
  }
  return b;
}

/**
 * What rpc.mountd does on MNT (append a line with count 1) or UMNT (rewrite
 * the file without that line through rmtab.tmp + rename): under the fcntl
 * lock, the ha-callout first.
 */
async function mountdChange(b: Bench, node: string, op: "mount" | "umount", client: string, path: string): Promise<bigint> {
  const dir = b.stateDir(node);
  const rmtab = join(dir, "rmtab");
  let changed = 0n;
  await withRmtabLock(join(dir, ".rmtab.lock"), { exclusive: true, timeoutMs: 30_000 }, () => {
    const r = spawnSync(CALLOUT, [op === "mount" ? "mount" : "unmount", client, path, op === "mount" ? "1" : "0"], {
      env: { ...process.env, RMTABSYNC_SPOOL: join(dir, "rmtabsync.spool") },
    });
    if (r.status !== 0) throw new Error(`callout exited ${r.status}`);
    if (op === "mount") {
      appendFileSync(rmtab, line(client, path, 1));
      changed = process.hrtime.bigint();
    } else {
      const gone = line(client, path, 1);
      const keep = readFileSync(rmtab, "utf8")
        .split(/(?<=\n)/)
        .filter((l) => l !== gone && l !== "");
      writeFileSync(join(dir, "rmtab.tmp"), keep.join(""));
      renameSync(join(dir, "rmtab.tmp"), rmtab);
      changed = process.hrtime.bigint();
    }
  });
  return changed;
}

class Daemon {
  readonly child: ChildProcess;
  private tail = "";
  private partial = "";
  readonly counts = { record: 0, reconcile: 0, failed: 0 };
  constructor(b: Bench, args: string[]) {
    this.child = spawn(process.execPath, [CLI, "-c", b.configFile("ds03"), "-n", "ds03", "watch", "--debug", ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, NOTIFY_SOCKET: "", WATCHDOG_USEC: "" },
    });
    this.child.stderr!.on("data", (d: Buffer) => {
      const lines = (this.partial + d.toString()).split("\n");
      this.partial = lines.pop() ?? "";
      for (const l of lines) {
        if (l.startsWith("<7>record done")) this.counts.record++;
        else if (l.startsWith("<7>reconcile done")) this.counts.reconcile++;
        else if (/^<[34]>/.test(l)) this.counts.failed++;
        if (!l.startsWith("<7>")) this.tail = `${this.tail}${l}\n`.slice(-20_000);
      }
    });
  }
  get log(): string {
    return this.tail;
  }
  async ready(): Promise<void> {
    const deadline = Date.now() + 300_000; // a first reconcile at 100k+ entries can take a while
    while (this.counts.reconcile === 0) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`watch did not start:\n${this.tail}`);
      await sleep(10);
    }
  }
  /** VmRSS and VmHWM (peak) in MiB from /proc. */
  rss(): { rss: number; peak: number } {
    const s = readFileSync(`/proc/${this.child.pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)?.[1] ?? NaN);
    return { rss: kb("VmRSS") / 1024, peak: kb("VmHWM") / 1024 };
  }
  async stop(): Promise<number | null> {
    this.child.kill("SIGTERM");
    return new Promise((r) => this.child.on("exit", (code) => r(code)));
  }
}

/** Highest event sequence number committed in `node`'s journal. */
function journalReader(b: Bench, node: string): () => number {
  const db = new Database(join(b.control, "journals", `${node}.sqlite`), { readonly: true, fileMustExist: true, timeout: 5000 });
  const q = db.prepare("SELECT coalesce(max(seq), 0) AS s FROM events");
  return () => (q.get() as { s: number }).s;
}

// ---------------------------------------------------------------- 1. latency

async function latency(b: Bench, changes: number, label: string, offset: number): Promise<number[]> {
  const seq = journalReader(b, "ds03");
  const out: number[] = [];
  let next = seq();
  for (let i = 0; i < changes; i++) {
    // alternate a new mount (MNT: append in place) and its umount (UMNT: rename)
    const n = offset + (i >> 1);
    const client = `10.9.${(n >> 8) & 255}.${n & 255}`;
    const start = await mountdChange(b, "ds03", i % 2 === 0 ? "mount" : "umount", client, "/srv/vm0");
    next++;
    for (;;) {
      if (seq() >= next) break;
      await sleep(1);
    }
    out.push(Number(process.hrtime.bigint() - start) / 1e6);
    if ((i + 1) % 200 === 0) progress(`${label}: ${i + 1}/${changes} changes, median so far ${median(out).toFixed(1)} ms`);
  }
  return out;
}

/**
 * A peer (ds04) commits one event (a mount, then its umount) straight into
 * its journal; timed to the moment ds03's rmtab is renamed with it (its
 * stat polled every 2 ms, then its content checked).
 */
async function peerLatency(b: Bench, commits: number): Promise<number[]> {
  const peer = new JournalRows(join(b.control, "journals", "ds04.sqlite"));
  const rmtab = join(b.stateDir("ds03"), "rmtab");
  const sig = () => {
    try {
      const st = statSync(rmtab);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return "";
    }
  };
  const out: number[] = [];
  try {
    for (let i = 0; i < commits; i++) {
      await sleep(Math.random() * POLL_MS); // a random phase of the daemon's poll
      const n = i >> 1;
      const client = `10.6.${(n >> 8) & 255}.${n & 255}`;
      const mount = i % 2 === 0;
      const want = `${line(client, "/srv/vm1", 1)}`;
      let last = sig();
      peer.append([{ op: mount ? "mount" : "umount", client, path: "/srv/vm1", wall: Date.now() }]);
      const start = process.hrtime.bigint();
      const deadline = Date.now() + 60_000;
      for (;;) {
        const now = sig();
        if (now !== last) {
          last = now;
          const text = readFileSync(rmtab, "utf8");
          const has = text.startsWith(want) || text.includes(`\n${want}`);
          if (has === mount) break;
        }
        if (Date.now() > deadline) throw new Error(`peer commit ${i}: ds03's rmtab not rewritten within 60 s`);
        await sleep(2);
      }
      out.push(Number(process.hrtime.bigint() - start) / 1e6);
      if ((i + 1) % 20 === 0) progress(`peer latency: ${i + 1}/${commits} commits, median so far ${median(out).toFixed(1)} ms`);
    }
  } finally {
    peer.close();
  }
  return out;
}

// ---------------------------------------------------------------- 2. callout

function timedRuns(cmd: string, args: string[], n: number, env?: NodeJS.ProcessEnv): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env: env ?? process.env, stdio: "ignore" });
    out.push(Number(process.hrtime.bigint() - s) / 1e6);
    if (r.status !== 0) throw new Error(`${cmd} exited ${r.status}`);
  }
  return out;
}

// ---------------------------------------------------------------- 3. churn

/**
 * One hour of a busy node, compressed. What grows a daemon's memory is the
 * work it does, not the time between: so every per-hour count is kept and
 * the waits between them are cut. HOUR local rmtab changes (one MNT or UMNT
 * per second, each with its callout) and HOUR peer journal events (the other
 * node records one change per second; each makes this node reconcile), with
 * the timers scaled by 1/100: --poll 0.01 (at least 3600 peer polls) and
 * --interval 0.6 (at least 60 safety reconciles), --debounce 1.
 */
async function churn(b: Bench, d: Daemon): Promise<{ samples: { at: number; rss: number }[]; ms: number }> {
  const c04 = loadConfig(b.configFile("ds04"));
  const ctx04: SyncContext = { cfg: c04, node: "ds04", lockTimeoutMs: 30_000, now: () => Date.now(), warn: () => {} };
  const samples: { at: number; rss: number }[] = [{ at: 0, rss: d.rss().rss }];
  const start = Date.now();
  for (let i = 0; i < HOUR; i++) {
    const n = i >> 1;
    const op = i % 2 === 0 ? "mount" : "umount";
    // every client mounts, and unmounts one second later
    await mountdChange(b, "ds03", op, `10.7.${(n >> 8) & 255}.${n & 255}`, "/srv/vm0");
    await mountdChange(b, "ds04", op, `10.8.${(n >> 8) & 255}.${n & 255}`, "/srv/vm1");
    await record(ctx04);
    if ((i + 1) % Math.max(1, Math.floor(HOUR / 6)) === 0) {
      samples.push({ at: i + 1, rss: d.rss().rss });
      progress(`churn: ${i + 1}/${HOUR} seconds-equivalent, daemon RSS ${d.rss().rss.toFixed(1)} MiB`);
    }
  }
  return { samples, ms: Date.now() - start };
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = { entries: ENTRIES, pollMs: POLL_MS, cli: CLI };
  const f = (x: number) => x.toFixed(1);
  const lines: string[] = [];
  // -- 2 first: nothing else running
  if (CALLS > 0) {
    progress(`callout: ${CALLS} calls`);
    const b0 = makeCluster();
    const env = { ...process.env, RMTABSYNC_SPOOL: join(b0.stateDir("ds03"), "rmtabsync.spool") };
    const callout = timedRuns(CALLOUT, ["mount", "10.0.0.1", "/srv/vm0", "1"], CALLS, env);
    const trueRuns = timedRuns("/bin/true", [], CALLS);
    const nodeRuns = timedRuns(process.execPath, ["-e", "0"], 30);
    rmSync(b0.root, { recursive: true, force: true });
    const c = { calls: CALLS, medianMs: median(callout), p99Ms: quantile(callout, 0.99), binTrueMedianMs: median(trueRuns), nodeStartMedianMs: median(nodeRuns) };
    results.callout = c;
    lines.push(
      `ha-callout per call (spawn + wait from Node), ${CALLS} calls: median ${c.medianMs.toFixed(2)} ms, p99 ${c.p99Ms.toFixed(2)} ms; /bin/true ${c.binTrueMedianMs.toFixed(2)} ms; node -e 0 ${f(c.nodeStartMedianMs)} ms`,
    );
  }

  // -- 1: default settings (but --poll)
  progress(`setting up 2 nodes with ${ENTRIES} rmtab entries`);
  const b = makeCluster(ENTRIES);
  const pollArgs = ["--poll", String(POLL_MS / 1000)];
  let d = new Daemon(b, pollArgs);
  await d.ready();
  progress(`latency: ${CHANGES} changes under watch (default --debounce 100, --poll ${POLL_MS / 1000}), ${ENTRIES} entries`);
  const lat = await latency(b, CHANGES, "latency", 0);
  const l = { changes: CHANGES, debounceMs: 100, medianMs: median(lat), p99Ms: quantile(lat, 0.99), maxMs: Math.max(...lat) };
  results.latency = l;
  lines.push(`rmtab change -> committed journal event under watch (debounce 100 ms), ${ENTRIES} entries, ${CHANGES} changes: median ${f(l.medianMs)} ms, p99 ${f(l.p99Ms)} ms, max ${f(l.maxMs)} ms`);
  if (PEER > 0) {
    progress(`peer latency: ${PEER} commits by ds04`);
    const pl = await peerLatency(b, PEER);
    const pr = { commits: PEER, pollMs: POLL_MS, medianMs: median(pl), p99Ms: quantile(pl, 0.99), maxMs: Math.max(...pl) };
    results.peer = pr;
    lines.push(`peer commit -> this node's rmtab rewritten under watch (poll ${POLL_MS / 1000} s), ${ENTRIES} entries, ${PEER} commits: median ${f(pr.medianMs)} ms, p99 ${f(pr.p99Ms)} ms, max ${f(pr.maxMs)} ms`);
  }
  const rssAfterLatency = d.rss();
  results.rssAfterLatencyMiB = rssAfterLatency;
  if ((await d.stop()) !== 0) throw new Error(`watch did not exit 0:\n${d.log}`);

  // -- 3: an hour of churn, compressed
  if (HOUR > 0) {
    d = new Daemon(b, ["--poll", "0.01", "--interval", "0.6", "--debounce", "1"]);
    await d.ready();
    const rssStart = d.rss();
    progress(`churn: ${HOUR} local + ${HOUR} peer changes (one hour at one of each per second)`);
    const ch = await churn(b, d);
    // let it catch up, then measure
    const seq03 = journalReader(b, "ds03");
    let last = -1;
    for (;;) {
      await sleep(1000);
      const s = seq03();
      if (s === last) break;
      last = s;
    }
    const rssEnd = d.rss();
    const { reconcile: reconciles, record: records, failed } = d.counts;
    if ((await d.stop()) !== 0) throw new Error(`watch did not exit 0:\n${d.log.slice(-2000)}`);
    const events03 = seq03();
    // -- 1 again on the hour-old journals
    d = new Daemon(b, pollArgs);
    await d.ready();
    const late = Math.min(200, CHANGES);
    progress(`latency after the hour: ${late} changes`);
    const lat2 = await latency(b, late, "latency (hour-old journals)", 30_000);
    if ((await d.stop()) !== 0) throw new Error(`watch did not exit 0:\n${d.log}`);
    const c = {
      hourChanges: HOUR,
      wallMs: ch.ms,
      reconciles,
      records,
      warningsOrErrors: failed,
      journalEventsDs03: events03,
      rssStartMiB: rssStart.rss,
      rssEndMiB: rssEnd.rss,
      rssPeakMiB: rssEnd.peak,
      rssSamplesMiB: ch.samples.map((s) => [s.at, Number(s.rss.toFixed(1))]),
      rssAfterLatencyRunMiB: rssAfterLatency.rss,
    };
    results.churn = c;
    const la = { changes: late, medianMs: median(lat2), p99Ms: quantile(lat2, 0.99) };
    results.latencyAfterHour = la;
    lines.push(
      `  same after one hour of churn (${c.journalEventsDs03} events in this node's journal), ${late} changes: median ${f(la.medianMs)} ms, p99 ${f(la.p99Ms)} ms`,
      `daemon RSS, one hour of churn (${HOUR} local + ${HOUR} peer changes, ${c.records} records, ${c.reconciles} reconciles) in ${f(c.wallMs / 1000)} s: start ${f(c.rssStartMiB)} MiB, end ${f(c.rssEndMiB)} MiB, peak ${f(c.rssPeakMiB)} MiB`,
    );
  }
  rmSync(b.root, { recursive: true, force: true });
  process.stdout.write([...lines, JSON.stringify(results), ""].join("\n"));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-watch: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
