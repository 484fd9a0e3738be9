// rmtabsync benchmark: the performance targets of issue 10, each measured
// side by side in one run as a ratio (against `rmtabsync --version`, run
// right before each measured process, or against the exportfs agent's shell
// restore), with the target and pass/fail:
//
//   start-up                 `rmtabsync --version`
//   no-op reconcile          BENCH_ENTRIES (100k) entries over 2 nodes, nothing changed, fold cache warm
//   no-op reconcile growth   no-op time at a BENCH_HISTORY_LARGE (1M) event history / at BENCH_HISTORY_SMALL (20k),
//                            each divided by its own start-up runs (the machine's speed drifts between the two),
//                            BENCH_HISTORY_ENTRIES (1k) live entries; histories written straight into the
//                            journals (bench/journal-rows.ts), valid hash chains
//   one-line record          mountd appended one line, BENCH_ENTRIES entries
//   peer's mount (no target) `reconcile` on n01 after n02 journaled one mount (the timer's or the agent's case)
//   takeover rebuild         `reconcile --hosting <n02's exports>` (text output, like the agent) on n02 with an emptied rmtab (BENCH_ENTRIES
//                            lines rebuilt), fold cache warm (the target) and cold (no target: a full fold), beside the shell restore: grep (backup_rmtab,
//                            all 8 exports) + sort -u + install (restore_rmtab) into an empty rmtab
//   peak RSS                 reconcile at BENCH_ENTRIES entries and at the BENCH_HISTORY_LARGE history, cache cold and warm
//   watch daemon             from dist/bench-watch.js at BENCH_WATCH_ENTRIES (= BENCH_ENTRIES) entries: local rmtab
//                            change -> committed event p99, peer commit -> local rmtab rewritten p99
//
//   npm run bench                      (build + node --expose-gc dist/bench.js, then bench-doctor)
//   BENCH_CLI=/other/checkout/dist/cli.js node dist/bench.js    (benchmark another build, e.g. a baseline)
//   BENCH_ENTRIES=10000 BENCH_HISTORY_LARGE=100000 BENCH_REPS=3 BENCH_WATCH=0 node dist/bench.js   (quick look)
//   BENCH_REPS=n       runs per measured figure (median; default 9, 3 for the large history and cold rebuilds)
//   BENCH_WATCH=0      skips the daemon rows; BENCH_WATCH_CHANGES (100), BENCH_WATCH_PEER (50) and
//                      BENCH_WATCH_POLL (daemon --poll seconds, 1) are passed to dist/bench-watch.js
//   BENCH_KEEP=1       keeps each scenario's cluster dir (e.g. to profile the CLI there)
//
// The previous table (cold record/reconcile and the shell's backup/restore for
// 1k/10k/100k entries over 2 and 8 nodes) runs instead when BENCH_SIZES is set:
//   BENCH_SIZES=1000,10000,100000 BENCH_NODES=2,8 BENCH_REPS=5 node dist/bench.js
//
// Progress goes to stderr; the table and one JSON line (BENCH_JSON) go to stdout.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { bundleOf, CLI_FILES, mountpointKeyFor } from "./cli-build.js";
import { shellFunctions, shellScript } from "./shellway.js";
import { JournalRows, type BenchEvent } from "./journal-rows.js";

// dist/bench.js is a CommonJS bundle next to dist/cli.js.
const ROOT = resolve(dirname(process.argv[1] ?? "dist/bench.js"), "..");
/** BENCH_CLI: another build's dist/cli.js (e.g. a baseline checkout); default this tree's. */
const BUILT_CLI = process.env.BENCH_CLI ? resolve(process.env.BENCH_CLI) : join(ROOT, "dist", "cli.js");
/**
 * The CLI the bench runs: a copy of dist/cli.js taken at start, so a rebuild
 * during the run (others work in this tree) cannot change it half-way. Its
 * external modules (better-sqlite3, os-lock) still load from node_modules.
 */
let CLI = BUILT_CLI;
let CLI_SHA = "";
const CHILD_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_PATH: [join(dirname(BUILT_CLI), "..", "node_modules"), join(ROOT, "node_modules"), process.env.NODE_PATH].filter(Boolean).join(":"),
};

function snapshotCli(dir: string): void {
  CLI_SHA = createHash("sha256").update(readFileSync(bundleOf(BUILT_CLI))).digest("hex").slice(0, 16);
  for (const f of CLI_FILES) if (existsSync(join(dirname(BUILT_CLI), f))) copyFileSync(join(dirname(BUILT_CLI), f), join(dir, f));
  CLI = join(dir, "cli.js");
}
let mountpointKeyLine: string | undefined;
function mountpointKey(): string {
  return (mountpointKeyLine ??= mountpointKeyFor(CLI));
}

const AS_ROOT = process.getuid?.() === 0;
const TIME_BIN = "/usr/bin/time";

// ---------------------------------------------------------------- settings

function envList(name: string, dflt: number[]): number[] {
  const v = process.env[name];
  if (!v) return dflt;
  return v.split(",").map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: "${s}" is not a positive integer`);
    return n;
  });
}

const SIZES = envList("BENCH_SIZES", [1_000, 10_000, 100_000]);
const NODE_COUNTS = envList("BENCH_NODES", [2, 8]);
/** Repetitions per measured figure (median of 5; the whole run stays within a few minutes). */
function repsFor(_entries: number): number {
  const forced = process.env.BENCH_REPS;
  return forced ? Math.max(1, Number(forced)) : 5;
}
/** BENCH_KEEP=1 leaves each scenario's cluster in place (for profiling) instead of deleting it. */
const KEEP = process.env.BENCH_KEEP === "1";
/** A handful of exports; each node hosts the ones with index % nodes === node index. */
const EXPORT_COUNT = 8;

// ---------------------------------------------------------------- utilities

/** Temp dirs to remove if the run is interrupted. */
const liveDirs = new Set<string>();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
    process.stderr.write(`bench interrupted (${sig}); temp dirs removed\n`);
    process.exit(130);
  });
}

const t0 = Date.now();
function progress(msg: string): void {
  const s = ((Date.now() - t0) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${s}s] ${msg}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Deterministic PRNG (mulberry32), so every run benchmarks the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** rmtab line exactly as mountd writes it. */
function rmtabLine(client: string, path: string, count: number): string {
  return `${client.replaceAll(":", ";")}:${path}:0x${count.toString(16).padStart(8, "0")}\n`;
}

/** One measured CLI process. */
interface Run {
  ms: number;
  rssKiB: number;
  cpuMs: number;
  out: string;
}

interface Timed {
  ms: number;
  r: SpawnSyncReturns<string>;
}

function timedSpawn(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Timed {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", env: env ?? process.env, maxBuffer: 256 * 1024 * 1024 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.error) throw r.error;
  return { ms, r };
}

function fail(what: string, r: SpawnSyncReturns<string>): never {
  throw new Error(`${what} exited ${r.status ?? r.signal}\n--- stderr\n${r.stderr}\n--- stdout\n${r.stdout.slice(0, 2000)}`);
}

// ---------------------------------------------------------------- the cluster

interface Export {
  name: string;
  path: string;
  host: string;
}

class BenchCluster {
  readonly root: string;
  readonly control: string;
  readonly nodes: string[];
  readonly exports: Export[];
  readonly rssHook: string;
  readonly rssFile: string;

  constructor(nodeCount: number) {
    this.root = mkdtempSync(join(tmpdir(), "rmtabsync-bench-"));
    liveDirs.add(this.root);
    this.control = join(this.root, "control");
    mkdirSync(this.control);
    this.nodes = Array.from({ length: nodeCount }, (_, i) => `n${String(i + 1).padStart(2, "0")}`);
    this.exports = Array.from({ length: EXPORT_COUNT }, (_, i) => ({
      name: `exp${i}`,
      path: `/srv/exp${i}`,
      host: this.nodes[i % nodeCount]!,
    }));
    // Peak RSS of a CLI run: the child itself reports getrusage's ru_maxrss (KiB) and its CPU time (µs) on exit.
    this.rssHook = join(this.root, "rss-hook.cjs");
    this.rssFile = join(this.root, "rss.txt");
    writeFileSync(
      this.rssHook,
      `process.on("exit", () => { const f = process.env.RMTABSYNC_BENCH_RSS; if (f) { const u = process.resourceUsage(); require("node:fs").writeFileSync(f, [u.maxRSS, u.userCPUTime + u.systemCPUTime].join(" ")); } });\n`,
    );
    const exportYaml = this.exports.map((e) => `  - name: ${e.name}\n    path: ${e.path}\n`).join("");
    for (const n of this.nodes) {
      mkdirSync(this.stateDir(n), { recursive: true });
      writeFileSync(
        this.configFile(n),
        `cluster: bench\ncontrolDir: ${this.control}\n${mountpointKey()}stateDir: ${this.stateDir(n)}\nnodes: [${this.nodes.join(", ")}]\nexports:\n${exportYaml}`,
      );
      // etab as exportfs writes it: what this node exports now.
      writeFileSync(
        join(this.stateDir(n), "etab"),
        this.hostedBy(n)
          .map((e) => `${e.path}\t*(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,fsid=${e.name.slice(3)}1,sec=sys)\n`)
          .join(""),
      );
    }
  }

  stateDir(n: string): string {
    return join(this.root, "state", n);
  }
  configFile(n: string): string {
    return join(this.root, `${n}.yaml`);
  }
  rmtab(n: string): string {
    return join(this.stateDir(n), "rmtab");
  }
  hostedBy(n: string): Export[] {
    return this.exports.filter((e) => e.host === n);
  }

  /** One fresh CLI process: wall time of the whole process, its peak RSS in KiB and CPU time in ms. */
  cli(node: string, args: string[]): Run {
    rmSync(this.rssFile, { force: true });
    const { ms, r } = timedSpawn(
      process.execPath,
      ["--require", this.rssHook, CLI, "-c", this.configFile(node), "-n", node, ...args],
      { ...CHILD_ENV, RMTABSYNC_BENCH_RSS: this.rssFile },
    );
    if (r.status !== 0) fail(`rmtabsync ${args.join(" ")} on ${node}`, r);
    const [rssKiB, cpuUs] = readFileSync(this.rssFile, "utf8").split(" ").map(Number) as [number, number];
    return { ms, rssKiB, cpuMs: cpuUs / 1000, out: r.stdout };
  }

  cleanup(): void {
    rmSync(this.root, { recursive: true, force: true });
    liveDirs.delete(this.root);
  }
}

/**
 * The benchmark's client population: `entries` distinct client+path pairs
 * spread over the exports; ~20% IPv6 clients, ~40% subdirectory mounts
 * (a few with spaces), ~6% with a count above 1.
 */
function generateRmtabs(c: BenchCluster, entries: number): Map<string, string> {
  const rand = rng(0x5eed + entries);
  const parts = new Map<string, string[]>(c.nodes.map((n) => [n, []]));
  const subdirs = ["images", "home/u%", "vm/disk%", "scratch", "Shared Docs/%", "projects/p%/data"];
  for (let j = 0; j < entries; j++) {
    const exp = c.exports[j % c.exports.length]!;
    const id = j + 1;
    const client =
      rand() < 0.2
        ? `2001:db8:${(id >>> 16).toString(16)}::${(id & 0xffff).toString(16)}`
        : `10.${(id >>> 16) & 255}.${(id >>> 8) & 255}.${id & 255}`;
    let path = exp.path;
    if (rand() < 0.4) {
      const sub = subdirs[Math.floor(rand() * subdirs.length)]!.replace("%", String(Math.floor(rand() * 500)));
      path = `${exp.path}/${sub}`;
    }
    const x = rand();
    const count = x < 0.94 ? 1 : x < 0.99 ? 2 : 3;
    parts.get(exp.host)!.push(rmtabLine(client, path, count));
  }
  return new Map([...parts].map(([n, lines]) => [n, lines.join("")]));
}

function countLines(file: string): number {
  const b = readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

// ---------------------------------------------------------------- one scenario

interface Sample {
  ms: number[];
  rssKiB: number[];
}

interface ScenarioResult {
  entries: number;
  nodes: number;
  exportsPerNode: number;
  reps: number;
  setupSeconds: { init: number; firstRecord: number; firstReconcile: number };
  record: Sample;
  reconcile: Sample;
  shellBackup: Sample & { exports: number; linesBackedUp: number };
  shellRestore: Sample & { exports: number; linesAfter: number };
  rmtabBytes: number;
}

function runScenario(entries: number, nodeCount: number): ScenarioResult {
  const tag = `${entries / 1000}k entries x ${nodeCount} nodes`;
  const reps = repsFor(entries);
  const c = new BenchCluster(nodeCount);
  try {
    // ---- setup: mountd-written rmtabs, then init + record + reconcile everywhere via the CLI
    progress(`${tag}: writing rmtabs (${c.root})`);
    for (const [n, text] of generateRmtabs(c, entries)) writeFileSync(c.rmtab(n), text);
    const setup = { init: 0, firstRecord: 0, firstReconcile: 0 };
    let s = Date.now();
    for (const n of c.nodes) c.cli(n, ["init"]);
    setup.init = (Date.now() - s) / 1000;
    s = Date.now();
    for (const n of c.nodes) c.cli(n, ["record"]);
    setup.firstRecord = (Date.now() - s) / 1000;
    progress(`${tag}: setup record on ${nodeCount} nodes took ${setup.firstRecord.toFixed(1)}s`);
    s = Date.now();
    for (const n of c.nodes) {
      const r = JSON.parse(c.cli(n, ["reconcile", "--json"]).out) as { entries: number };
      if (r.entries !== entries) throw new Error(`setup reconcile on ${n}: ${r.entries} entries, expected ${entries}`);
    }
    setup.firstReconcile = (Date.now() - s) / 1000;
    progress(`${tag}: setup reconcile on ${nodeCount} nodes took ${setup.firstReconcile.toFixed(1)}s; every rmtab now has ${entries} entries`);

    const [a, b] = [c.nodes[0]!, c.nodes[1]!];
    const expA = c.hostedBy(a)[0]!;
    const expB = c.hostedBy(b)[0]!;
    let expected = entries;
    let fresh = 0;
    /** A new client mounts: mountd appends one canonical line. */
    const mountdAppend = (node: string, exp: Export) => {
      fresh++;
      appendFileSync(c.rmtab(node), rmtabLine(`192.168.${fresh >> 8}.${fresh & 255}`, `${exp.path}/images`, 1));
      expected++;
    };

    // ---- cold record: one appended line on node a
    const record: Sample = { ms: [], rssKiB: [] };
    for (let i = 0; i < reps; i++) {
      mountdAppend(a, expA);
      const r = c.cli(a, ["record", "--json"]);
      const rec = (JSON.parse(r.out) as { recorded: unknown[] }).recorded;
      if (rec.length !== 1) throw new Error(`record on ${a} journaled ${rec.length} events, expected 1`);
      record.ms.push(r.ms);
      record.rssKiB.push(r.rssKiB);
      progress(`${tag}: record #${i + 1}: ${r.ms.toFixed(0)} ms, ${(r.rssKiB / 1024).toFixed(0)} MiB`);
    }

    // ---- cold reconcile on a after peer b recorded a new mount
    const reconcile: Sample = { ms: [], rssKiB: [] };
    for (let i = 0; i < reps; i++) {
      mountdAppend(b, expB);
      c.cli(b, ["record"]);
      const r = c.cli(a, ["reconcile", "--json"]);
      const j = JSON.parse(r.out) as { written: boolean; added: unknown[]; entries: number };
      if (!j.written || j.added.length !== 1 || j.entries !== expected)
        throw new Error(`reconcile on ${a}: written=${j.written} added=${j.added.length} entries=${j.entries} (expected ${expected})`);
      reconcile.ms.push(r.ms);
      reconcile.rssKiB.push(r.rssKiB);
      progress(`${tag}: reconcile #${i + 1}: ${r.ms.toFixed(0)} ms, ${(r.rssKiB / 1024).toFixed(0)} MiB`);
    }
    const rmtabBytes = statSync(c.rmtab(a)).size;

    // ---- the shell way, on copies of the same rmtabs
    const sh = join(c.root, "shell");
    const backupsA = join(sh, "backups-a");
    const backupsB = join(sh, "backups-b");
    for (const d of [backupsA, backupsB]) for (const e of c.exports) mkdirSync(join(d, e.path), { recursive: true });
    const rmtabA = join(sh, "rmtab");
    const rmtabAOrig = join(sh, "rmtab.orig");
    const rmtabB = join(sh, "rmtab-b");
    copyFileSync(c.rmtab(a), rmtabAOrig);
    copyFileSync(c.rmtab(b), rmtabB);
    const dirsA = c.hostedBy(a).map((e) => e.path);
    const dirsB = c.hostedBy(b).map((e) => e.path);
    const shEnv = (rmtab: string, backups: string): NodeJS.ProcessEnv => ({
      ...process.env,
      LC_ALL: "C",
      RMTAB: rmtab,
      BACKUPS: backups,
      TMPDIR: sh,
    });
    const bash = (script: string, env: NodeJS.ProcessEnv, withTime: boolean): { ms: number; rssKiB?: number } => {
      const rssOut = join(sh, "time.txt");
      const { ms, r } = withTime
        ? timedSpawn(TIME_BIN, ["-f", "%M", "-o", rssOut, "bash", "-c", script], env)
        : timedSpawn("bash", ["-c", script], env);
      if (r.status !== 0) fail("shell", r);
      return { ms, rssKiB: withTime ? Number(readFileSync(rssOut, "utf8").trim().split("\n").pop()) : undefined };
    };
    // Peer b's monitor/stop left its backups on the shared export (untimed).
    bash(shellScript(AS_ROOT, "backup_rmtab", dirsB), shEnv(rmtabB, backupsB), false);

    // backup_rmtab of node a's exports, from a's rmtab (stands beside `record`)
    copyFileSync(rmtabAOrig, rmtabA);
    const backupScript = shellScript(AS_ROOT, "backup_rmtab", dirsA);
    const shellBackup: ScenarioResult["shellBackup"] = { ms: [], rssKiB: [], exports: dirsA.length, linesBackedUp: 0 };
    for (let i = 0; i < reps; i++) shellBackup.ms.push(bash(backupScript, shEnv(rmtabA, backupsA), false).ms);
    shellBackup.rssKiB.push(bash(backupScript, shEnv(rmtabA, backupsA), true).rssKiB!);
    shellBackup.linesBackedUp = dirsA.reduce((n, d) => n + countLines(join(backupsA, d, ".rmtab")), 0);

    // restore_rmtab of peer b's exports into a's rmtab: a takes over b's exports (stands beside `reconcile`)
    const restoreScript = shellScript(AS_ROOT, "restore_rmtab", dirsB);
    const shellRestore: ScenarioResult["shellRestore"] = { ms: [], rssKiB: [], exports: dirsB.length, linesAfter: 0 };
    for (let i = 0; i <= reps; i++) {
      copyFileSync(rmtabAOrig, rmtabA); // every run starts from the same, unsorted rmtab
      const r = bash(restoreScript, shEnv(rmtabA, backupsB), i === reps);
      if (i === reps) shellRestore.rssKiB.push(r.rssKiB!);
      else shellRestore.ms.push(r.ms);
    }
    shellRestore.linesAfter = countLines(rmtabA);
    progress(
      `${tag}: shell backup ${median(shellBackup.ms).toFixed(1)} ms (${shellBackup.linesBackedUp} lines), restore ${median(shellRestore.ms).toFixed(1)} ms`,
    );

    return {
      entries,
      nodes: nodeCount,
      exportsPerNode: c.hostedBy(a).length,
      reps,
      setupSeconds: setup,
      record,
      reconcile,
      shellBackup,
      shellRestore,
      rmtabBytes,
    };
  } finally {
    if (KEEP) progress(`${tag}: cluster kept in ${c.root} (configs ${c.configFile("<node>")})`);
    else c.cleanup();
  }
}

// ---------------------------------------------------------------- floors

/** Process start-up floors, measured the same way: `node -e 0` and `bash -c :`. */
function floors(reps: number): { nodeMs: number; bashMs: number } {
  const n: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 2; i++) timedSpawn(process.execPath, ["-e", "0"]); // warm-up, not counted
  for (let i = 0; i < reps; i++) {
    n.push(timedSpawn(process.execPath, ["-e", "0"]).ms);
    b.push(timedSpawn("bash", ["-c", ":"]).ms);
  }
  return { nodeMs: median(n), bashMs: median(b) };
}

// ---------------------------------------------------------------- output

function table(headers: string[], rows: string[][], rightFrom = 1): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => cells.map((x, i) => (i < rightFrom ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join("  ");
  return [fmt(headers), w.map((n) => "-".repeat(n)).join("  "), ...rows.map(fmt)].join("\n") + "\n";
}

const ms = (xs: number[]) => (median(xs) < 10 ? median(xs).toFixed(1) : median(xs).toFixed(0));
const mib = (xs: number[]) => (Math.max(...xs) / 1024).toFixed(1);

// ---------------------------------------------------------------- issue 10's targets

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (!v) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: "${v}" is not a positive integer`);
  return n;
}

const T_ENTRIES = envInt("BENCH_ENTRIES", 100_000);
const H_SMALL = envInt("BENCH_HISTORY_SMALL", 20_000);
const H_LARGE = envInt("BENCH_HISTORY_LARGE", 1_000_000);
const H_ENTRIES = envInt("BENCH_HISTORY_ENTRIES", 1_000);
const WITH_WATCH = process.env.BENCH_WATCH !== "0";
/** Runs per figure (9: on a shared 2-core VM one run varies by a quarter); the slow ones (large history, rebuilds) take fewer unless BENCH_REPS says. */
const REPS = envInt("BENCH_REPS", 9);
const FEW = process.env.BENCH_REPS ? REPS : 3;

/** Measured processes, each with the start-up (`--version`) run right before it. */
interface Series {
  runs: Run[];
  starts: Run[];
}
const series = (): Series => ({ runs: [], starts: [] });
/** Every start-up sample of the run (the start-up row). */
const startups: Run[] = [];

function versionRun(c: BenchCluster): Run {
  rmSync(c.rssFile, { force: true });
  const { ms, r } = timedSpawn(process.execPath, ["--require", c.rssHook, CLI, "--version"], { ...CHILD_ENV, RMTABSYNC_BENCH_RSS: c.rssFile });
  if (r.status !== 0) fail("rmtabsync --version", r);
  const [rssKiB, cpuUs] = readFileSync(c.rssFile, "utf8").split(" ").map(Number) as [number, number];
  const run = { ms, rssKiB, cpuMs: cpuUs / 1000, out: r.stdout };
  startups.push(run);
  return run;
}

/** Runs `fn` once, right after a start-up run, into `s`. */
function paired(s: Series, c: BenchCluster, fn: () => Run): Run {
  s.starts.push(versionRun(c));
  const r = fn();
  s.runs.push(r);
  return r;
}

const med = (rs: readonly Run[], k: "ms" | "cpuMs" = "ms") => median(rs.map((r) => r[k]));
const peakMB = (rs: readonly Run[]) => Math.max(...rs.map((r) => r.rssKiB)) * 1.024 / 1000;
const jsonOf = (out: string) => JSON.parse(out) as { written: boolean; entries: number; recorded: unknown[]; added: unknown[] };
const rmFoldCache = (c: BenchCluster, n: string) => rmSync(join(c.stateDir(n), "rmtabsync.fold"), { force: true });

/** `reconcile --json` on `node`; checks that it wrote nothing and kept `entries` entries. */
function noop(c: BenchCluster, node: string, entries: number): Run {
  const r = c.cli(node, ["reconcile", "--json"]);
  const j = jsonOf(r.out);
  if (j.written || j.entries !== entries || j.recorded.length !== 0)
    throw new Error(`no-op reconcile on ${node}: written=${j.written} entries=${j.entries} (expected ${entries}) recorded=${j.recorded.length}`);
  return r;
}

interface EntriesResult {
  noop: Series;
  cold: Run[];
  record: Series;
  peer: Series;
  rebuildWarm: Run[];
  rebuildCold: Run[];
  shell: number[];
  shellLines: number;
  rebuiltLines: number;
  rmtabBytes: number;
}

/** BENCH_ENTRIES entries over 2 nodes: no-op and cold reconcile, one-line record, takeover rebuild beside the shell. */
function entriesScenario(entries: number): EntriesResult {
  const tag = `${entries / 1000}k entries`;
  const c = new BenchCluster(2);
  const [a, b] = [c.nodes[0]!, c.nodes[1]!];
  try {
    progress(`${tag}: setup (${c.root})`);
    for (const [n, text] of generateRmtabs(c, entries)) writeFileSync(c.rmtab(n), text);
    for (const n of c.nodes) c.cli(n, ["init"]);
    for (const n of c.nodes) c.cli(n, ["record"]);
    for (const n of c.nodes) if (jsonOf(c.cli(n, ["reconcile", "--json"]).out).entries !== entries) throw new Error(`setup reconcile on ${n}: not ${entries} entries`);
    // n02's reconcile committed to its journal after a's: one more run on a folds that and leaves a quiet state
    c.cli(a, ["reconcile"]);

    progress(`${tag}: no-op reconcile x${REPS}`);
    const noopS = series();
    for (let i = 0; i < REPS; i++) paired(noopS, c, () => noop(c, a, entries));
    progress(`${tag}: no-op reconcile ${med(noopS.runs).toFixed(0)} ms, start-up ${med(noopS.starts).toFixed(0)} ms`);

    progress(`${tag}: reconcile with the fold cache removed x${FEW}`);
    const cold: Run[] = [];
    for (let i = 0; i < FEW; i++) {
      rmFoldCache(c, a);
      cold.push(noop(c, a, entries));
    }
    progress(`${tag}: cold reconcile ${median(cold.map((r) => r.ms)).toFixed(0)} ms, peak ${peakMB(cold).toFixed(0)} MB`);

    let expected = entries;
    let fresh = 0;
    const expA = c.hostedBy(a)[0]!;
    const recordS = series();
    for (let i = 0; i < REPS; i++) {
      fresh++;
      appendFileSync(c.rmtab(a), rmtabLine(`192.168.${fresh >> 8}.${fresh & 255}`, `${expA.path}/images`, 1));
      expected++;
      const r = paired(recordS, c, () => c.cli(a, ["record", "--json"]));
      const n = jsonOf(r.out).recorded.length;
      if (n !== 1) throw new Error(`record on ${a} journaled ${n} events, expected 1`);
    }
    progress(`${tag}: one-line record ${med(recordS.runs).toFixed(0)} ms, start-up ${med(recordS.starts).toFixed(0)} ms`);

    // the timer's or the agent's reconcile after a peer journaled one mount (not the daemon's: its own row)
    const expB = c.hostedBy(b)[0]!;
    const peerS = series();
    for (let i = 0; i < REPS; i++) {
      fresh++;
      appendFileSync(c.rmtab(b), rmtabLine(`192.168.${fresh >> 8}.${fresh & 255}`, `${expB.path}/images`, 1));
      expected++;
      c.cli(b, ["record"]);
      const r = paired(peerS, c, () => c.cli(a, ["reconcile", "--json"]));
      const j = jsonOf(r.out);
      if (!j.written || j.added.length !== 1 || j.entries !== expected) throw new Error(`reconcile on ${a} after a peer's mount: written=${j.written} added=${j.added.length} entries=${j.entries} (expected ${expected})`);
    }
    progress(`${tag}: reconcile after a peer's mount ${med(peerS.runs).toFixed(0)} ms, start-up ${med(peerS.starts).toFixed(0)} ms`);

    // ---- takeover: b (its exports stopped, so etab empty) gets an emptied rmtab and takes its exports (back) over
    writeFileSync(join(c.stateDir(b), "etab"), "");
    c.cli(b, ["record"]);
    if (jsonOf(c.cli(b, ["reconcile", "--json"]).out).entries !== expected) throw new Error(`reconcile on ${b}: not ${expected} entries`);
    const snap = join(c.root, "snap-b");
    const journalB = join(c.control, "journals", `${b}.sqlite`);
    cpSync(c.stateDir(b), join(snap, "state"), { recursive: true });
    copyFileSync(journalB, join(snap, "journal.sqlite"));
    const hosting = c.hostedBy(b).flatMap((e) => ["--hosting", e.name]);
    // ---- the shell way: the peer's backup_rmtab (grep) of every export, then restore_rmtab (sort -u + install) into an emptied rmtab;
    // one run right before each takeover run, so that both see the machine alike
    const sh = join(c.root, "shell");
    for (const e of c.exports) mkdirSync(join(sh, "backups", e.path), { recursive: true });
    const src = join(sh, "rmtab-peer");
    const dst = join(sh, "rmtab");
    copyFileSync(c.rmtab(a), src);
    const dirs = c.exports.map((e) => `'${e.path}'`).join(" ");
    const script = `${shellFunctions(AS_ROOT)}\nRMTAB="$SRC"; for d in ${dirs}; do backup_rmtab "$d"; done\nRMTAB="$DST"; for d in ${dirs}; do restore_rmtab "$d"; done\n`;
    const env = { ...process.env, LC_ALL: "C", SRC: src, DST: dst, BACKUPS: join(sh, "backups"), TMPDIR: sh };
    const shell: number[] = [];
    const shellRun = (): void => {
      writeFileSync(dst, "");
      spawnSync("sync"); // as before a takeover run: nothing of the last run left to write back

      const { ms, r } = timedSpawn("bash", ["-c", script], env);
      if (r.status !== 0) fail("shell restore", r);
      shell.push(ms);
    };

    const rebuild = (warm: boolean): Run => {
      rmSync(c.stateDir(b), { recursive: true, force: true });
      cpSync(join(snap, "state"), c.stateDir(b), { recursive: true });
      copyFileSync(join(snap, "journal.sqlite"), journalB);
      writeFileSync(c.rmtab(b), "");
      if (!warm) rmFoldCache(c, b);
      // the copies just made are written back before the run, not by its first fsyncs
      spawnSync("sync");
      // what the Pacemaker agent's start runs (text output, as its log gets it), checked in the files
      const r = c.cli(b, ["reconcile", ...hosting]);
      const lines = countLines(c.rmtab(b));
      const recorded = r.out.split("\n").filter((l) => l.startsWith("recorded ")).length;
      if (lines !== expected || recorded !== 0) throw new Error(`takeover reconcile on ${b}: rmtab has ${lines} lines (expected ${expected}), ${recorded} events recorded:\n${r.out.slice(0, 2000)}`);
      return r;
    };
    const rebuildWarm: Run[] = [];
    const rebuildCold: Run[] = [];
    for (let i = 0; i < REPS; i++) {
      shellRun();
      rebuildWarm.push(rebuild(true));
      if (i >= FEW) continue;
      shellRun();
      rebuildCold.push(rebuild(false));
    }
    progress(`${tag}: takeover rebuild, cache warm ${median(rebuildWarm.map((r) => r.ms)).toFixed(0)} ms (runs ${rebuildWarm.map((r) => r.ms.toFixed(0)).join(" ")}), cold ${median(rebuildCold.map((r) => r.ms)).toFixed(0)} ms`);

    const shellLines = countLines(dst);
    progress(`${tag}: shell restore ${median(shell).toFixed(0)} ms (${shellLines} lines; runs ${shell.map((ms) => ms.toFixed(0)).join(" ")})`);
    return { noop: noopS, cold, record: recordS, peer: peerS, rebuildWarm, rebuildCold, shell, shellLines, rebuiltLines: expected, rmtabBytes: statSync(src).size };
  } finally {
    if (KEEP) progress(`${tag}: cluster kept in ${c.root} (configs ${c.configFile("<node>")})`);
    else c.cleanup();
  }
}

/**
 * A history of `events` events over 2 nodes with `live` entries left at its
 * end: the live mounts first, then clients that mount and unmount one after
 * the other, each in the journal of the node hosting its export, stamped
 * 1 ms apart and ending a minute ago. Written straight into the journals.
 */
function writeHistory(c: BenchCluster, events: number, live: number): void {
  const writers = new Map(c.nodes.map((n) => [n, new JournalRows(join(c.control, "journals", `${n}.sqlite`))]));
  const buffers = new Map<string, BenchEvent[]>(c.nodes.map((n) => [n, []]));
  const start = Date.now() - 60_000 - events;
  const put = (t: number, op: BenchEvent["op"], id: number) => {
    const exp = c.exports[id % c.exports.length]!;
    const buf = buffers.get(exp.host)!;
    buf.push({ op, client: `10.${(id >>> 16) & 255}.${(id >>> 8) & 255}.${id & 255}`, path: exp.path, wall: start + t });
    if (buf.length >= 50_000) {
      writers.get(exp.host)!.append(buf);
      buf.length = 0;
    }
  };
  let t = 0;
  for (let i = 0; i < live; i++) put(t++, "mount", i + 1);
  for (let id = live + 1; t < events; id++) {
    put(t++, "mount", id);
    if (t < events) put(t++, "umount", id);
  }
  for (const [n, w] of writers) {
    w.append(buffers.get(n)!);
    w.close();
  }
}

interface HistoryResult {
  events: number;
  setupSeconds: number;
  noop: Series;
  cold: Run[];
}

/** No-op reconcile (warm cache) and a reconcile without the cache, over an `events`-event history with `live` entries. */
function historyScenario(events: number, live: number, reps: number, coldReps: number): HistoryResult {
  const tag = `${events / 1000}k-event history`;
  const c = new BenchCluster(2);
  const [a, b] = [c.nodes[0]!, c.nodes[1]!];
  try {
    const s = Date.now();
    for (const n of c.nodes) writeFileSync(c.rmtab(n), "");
    for (const n of c.nodes) c.cli(n, ["init"]);
    writeHistory(c, events, live);
    progress(`${tag}: ${events} events written in ${((Date.now() - s) / 1000).toFixed(1)}s (${c.root})`);
    // first reconcile on each node: a full fold, no cache (a cold run as any other)
    const cold: Run[] = [];
    const first = c.cli(a, ["reconcile", "--json"]);
    if (jsonOf(first.out).entries !== live) throw new Error(`first reconcile on ${a}: ${jsonOf(first.out).entries} entries, expected ${live}`);
    cold.push(first);
    c.cli(b, ["reconcile"]);
    c.cli(a, ["reconcile"]);
    const setupSeconds = (Date.now() - s) / 1000;
    progress(`${tag}: first reconcile ${first.ms.toFixed(0)} ms, peak ${peakMB([first]).toFixed(0)} MB`);
    const noopS = series();
    for (let i = 0; i < reps; i++) paired(noopS, c, () => noop(c, a, live));
    progress(`${tag}: no-op reconcile ${med(noopS.runs).toFixed(0)} ms, start-up ${med(noopS.starts).toFixed(0)} ms`);
    for (let i = 1; i < coldReps; i++) {
      rmFoldCache(c, a);
      cold.push(noop(c, a, live));
    }
    progress(`${tag}: reconcile without cache ${median(cold.map((r) => r.ms)).toFixed(0)} ms, peak ${peakMB(cold).toFixed(0)} MB`);
    return { events, setupSeconds, noop: noopS, cold };
  } finally {
    if (KEEP) progress(`${tag}: cluster kept in ${c.root} (configs ${c.configFile("<node>")})`);
    else c.cleanup();
  }
}

interface WatchResult {
  entries: number;
  pollMs: number;
  latency: { changes: number; medianMs: number; p99Ms: number; maxMs: number };
  peer: { commits: number; medianMs: number; p99Ms: number; maxMs: number };
}

/** dist/bench-watch.js (bench/watch.ts) at `entries` entries, latency parts only, on the same CLI copy. */
function watchBench(entries: number): WatchResult {
  const script = join(ROOT, "dist", "bench-watch.js");
  const pollS = Number(process.env.BENCH_WATCH_POLL ?? "1");
  const env: NodeJS.ProcessEnv = {
    ...CHILD_ENV,
    BENCH_CLI: CLI,
    BENCH_WATCH_ENTRIES: String(envInt("BENCH_WATCH_ENTRIES", entries)),
    BENCH_WATCH_CHANGES: process.env.BENCH_WATCH_CHANGES ?? "100",
    BENCH_WATCH_PEER: process.env.BENCH_WATCH_PEER ?? "50",
    BENCH_WATCH_POLL: String(pollS),
    BENCH_WATCH_HOUR: "0",
    BENCH_WATCH_CALLS: "0",
  };
  progress(`watch: ${script} at ${env.BENCH_WATCH_ENTRIES} entries`);
  const r = spawnSync(process.execPath, [script], { env, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench-watch exited ${r.status ?? r.signal}\n${r.stdout}`);
  const line = r.stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`bench-watch printed no JSON:\n${r.stdout}`);
  const j = JSON.parse(line) as Omit<WatchResult, "entries" | "pollMs"> & { entries: number; pollMs: number };
  return { entries: j.entries, pollMs: j.pollMs, latency: j.latency, peer: j.peer };
}

function runTargets(): void {
  progress(
    `node ${process.version}, ${cpus().length} CPUs, ${T_ENTRIES} entries, histories ${H_SMALL}/${H_LARGE} events (${H_ENTRIES} entries), CLI ${BUILT_CLI} sha256 ${CLI_SHA}`,
  );
  const loadBefore = loadavg()[0]!;
  const gc = () => (globalThis as { gc?: () => void }).gc?.();
  // a scenario whose CLI fails is reported as such in its rows; the others still run
  const errors: Record<string, string> = {};
  const attempt = <T>(name: string, fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      const msg = (err instanceof Error ? err.message : String(err)).split("\n").filter((l) => l.trim() && !l.startsWith("---")).slice(0, 3).join(" | ");
      errors[name] = msg;
      progress(`${name} failed: ${msg}`);
      return undefined;
    } finally {
      gc();
    }
  };
  const ent = attempt("entries", () => entriesScenario(T_ENTRIES));
  const small = attempt("history-small", () => historyScenario(H_SMALL, H_ENTRIES, REPS, 1));
  const large = attempt("history-large", () => historyScenario(H_LARGE, H_ENTRIES, FEW, 2));
  const watch = WITH_WATCH ? attempt("watch", () => watchBench(T_ENTRIES)) : undefined;

  type Row = [path: string, measured: string, target: string, pass: string];
  const rows: Row[] = [];
  const verdict = (ok: boolean) => (ok ? "pass" : "FAIL");
  const x = (v: number) => `${v.toFixed(2)}x`;
  const ratioRow = (path: string, s: Series, target: number) => {
    const r = med(s.runs) / med(s.starts);
    const cpu = med(s.runs, "cpuMs") / med(s.starts, "cpuMs");
    rows.push([path, `${x(r)} (${med(s.runs).toFixed(0)} / ${med(s.starts).toFixed(0)} ms; cpu ${x(cpu)})`, `<= ${target}x start-up`, verdict(r <= target)]);
  };
  rows.push([
    "start-up: rmtabsync --version",
    `${med(startups).toFixed(0)} ms (cpu ${med(startups, "cpuMs").toFixed(0)} ms, ${startups.length} runs)`,
    "-",
    "-",
  ]);
  const broken = (path: string, target: string, ...names: string[]) => {
    const n = names.find((k) => errors[k] !== undefined);
    if (n === undefined) return false;
    rows.push([path, `error: ${errors[n]!.replace(/^.*? \| /, "").replace(/\/tmp\/\S*\//, "").slice(0, 90)}`, target, "FAIL"]);
    return true;
  };
  if (!ent) broken(`no-op reconcile, one-line record, takeover, peak RSS at ${T_ENTRIES / 1000}k entries`, "-", "entries");
  if (ent) ratioRow(`no-op reconcile, ${T_ENTRIES / 1000}k entries (cache warm)`, ent.noop, 1.5);
  const growthPath = `no-op reconcile growth, ${H_SMALL / 1000}k -> ${H_LARGE / 1000}k events (${H_ENTRIES / 1000}k entries)`;
  if (!small || !large) broken(growthPath, "<= 1.3x", "history-small", "history-large");
  else {
    // each history's no-op as a ratio to its own start-up runs: the machine's speed, which drifts by a
    // quarter on these shared VMs between the two histories (a minute apart), divides out
    const rel = (s: Series, k: "ms" | "cpuMs" = "ms") => med(s.runs, k) / med(s.starts, k);
    const g = rel(large.noop) / rel(small.noop);
    const cpu = rel(large.noop, "cpuMs") / rel(small.noop, "cpuMs");
    rows.push([
      growthPath,
      `${x(g)} (${x(rel(small.noop))} -> ${x(rel(large.noop))} start-up, ${med(small.noop.runs).toFixed(0)} -> ${med(large.noop.runs).toFixed(0)} ms; cpu ${x(cpu)})`,
      "<= 1.3x",
      verdict(g <= 1.3),
    ]);
  }
  if (ent) ratioRow(`one-line record, ${T_ENTRIES / 1000}k entries`, ent.record, 1.5);
  if (ent) {
    // not one of issue 10's targets: the cost a timer or agent reconcile pays for a peer's change
    const s = ent.peer;
    rows.push([
      `reconcile after a peer's mount, ${T_ENTRIES / 1000}k entries`,
      `${x(med(s.runs) / med(s.starts))} (${med(s.runs).toFixed(0)} / ${med(s.starts).toFixed(0)} ms; cpu ${x(med(s.runs, "cpuMs") / med(s.starts, "cpuMs"))})`,
      "-",
      "-",
    ]);
  }
  const shellMs = ent ? median(ent.shell) : NaN;
  for (const [what, rs] of ent
    ? ([
        ["cache warm", ent.rebuildWarm],
        ["cache cold", ent.rebuildCold],
      ] as const)
    : []) {
    const ms = median(rs.map((r) => r.ms));
    // Issue 10's target is the takeover as it measured it, the node's own fold cache in place: its
    // floors were 2.4x for a full fold and 0.5x for an incremental one, so 2x asks for the incremental
    // path. Without the cache (a new node, a lost state directory) the rebuild is a full fold of the
    // journals' latest-event tables: measured beside it, no target.
    const warm = what === "cache warm";
    rows.push([
      `takeover rebuild of ${Math.round(ent!.rebuiltLines / 1000)}k lines, ${what}`,
      `${x(ms / shellMs)} (${ms.toFixed(0)} / ${shellMs.toFixed(0)} ms shell)`,
      warm ? "<= 2x shell restore" : "-",
      warm ? verdict(ms / shellMs <= 2) : "-",
    ]);
  }
  const rssRows: [string, Run[]][] = [
    ...(ent
      ? ([
          [`peak RSS, ${T_ENTRIES / 1000}k entries, reconcile cache cold`, ent.cold],
          [`peak RSS, ${T_ENTRIES / 1000}k entries, reconcile cache warm`, ent.noop.runs],
        ] as [string, Run[]][])
      : []),
    ...(large
      ? ([
          [`peak RSS, ${H_LARGE / 1000}k events, reconcile cache cold`, large.cold],
          [`peak RSS, ${H_LARGE / 1000}k events, reconcile cache warm`, large.noop.runs],
        ] as [string, Run[]][])
      : []),
  ];
  if (!large) broken(`peak RSS, ${H_LARGE / 1000}k events`, "<= 150 MB", "history-large");
  for (const [what, rs] of rssRows) rows.push([what, `${peakMB(rs).toFixed(0)} MB`, "<= 150 MB", verdict(peakMB(rs) <= 150)]);
  if (WITH_WATCH && !watch) broken("watch daemon latencies", "-", "watch");
  if (watch) {
    rows.push([
      `watch, ${watch.entries / 1000}k entries: local change -> committed event`,
      `p99 ${watch.latency.p99Ms.toFixed(0)} ms (median ${watch.latency.medianMs.toFixed(0)}, ${watch.latency.changes} changes)`,
      "p99 <= 100 ms",
      verdict(watch.latency.p99Ms <= 100),
    ]);
    const limit = 200 + watch.pollMs;
    rows.push([
      `watch, ${watch.entries / 1000}k entries: peer commit -> rmtab rewritten`,
      `p99 ${watch.peer.p99Ms.toFixed(0)} ms (median ${watch.peer.medianMs.toFixed(0)}, ${watch.peer.commits} commits)`,
      `p99 <= 200 ms + poll ${watch.pollMs} ms`,
      verdict(watch.peer.p99Ms <= limit),
    ]);
  }

  const out = process.stdout;
  out.write(`\nrmtabsync benchmark: issue 10's performance targets (CLI ${BUILT_CLI}, sha256 ${CLI_SHA}...)\n\n`);
  out.write(table(["path", "measured", "target", "result"], rows, 2));
  out.write(
    [
      "",
      "Times are medians of wall time of fresh processes (spawn to exit); each ratio to start-up divides by the median of",
      "  `rmtabsync --version` runs made right before each measured run (cpu: the same with user+system CPU time).",
      `No-op reconcile: nothing changed since the last reconcile (timer path). ${T_ENTRIES / 1000}k entries over 2 nodes, 8 exports${ent ? `, rmtab ${(ent.rmtabBytes / 1e6).toFixed(1)} MB` : ""}.`,
      `Histories: ${H_ENTRIES} live entries, the rest mount+umount pairs, written straight into the 2 journals; growth = no-op time at ${H_LARGE} / at ${H_SMALL} events,`,
      "  each as a ratio to its own start-up runs (the machine's speed drifts between the two),",
      `  (first reconcile: ${large ? large.cold[0]!.ms.toFixed(0) : "-"} ms at ${H_LARGE}, ${small ? small.cold[0]!.ms.toFixed(0) : "-"} ms at ${H_SMALL}).`,
      "Takeover: n02, its exports stopped (empty etab), rmtab emptied, runs `reconcile --hosting` for its exports (text output, as the",
      "  Pacemaker agent runs it); warm = with the fold cache of its last reconcile (the target), cold = without it (a full fold; no target). Shell restore (one run right before each takeover run): grep (backup_rmtab) of all 8 exports from a full rmtab,",
      `  then sort -u + install (restore_rmtab) of each into an emptied rmtab, one bash (${ent?.shellLines ?? "-"} lines: the agent's grep misses subdirectory mounts).`,
      "Peak RSS: ru_maxrss of the CLI process; cold = the fold cache removed first (a full fold), warm = the no-op runs.",
      watch
        ? `Watch: dist/bench-watch.js, daemon with default settings but --poll ${watch.pollMs / 1000} s; local = rmtab write (under mountd's lock) to the event committed; peer = a peer's commit to this node's rmtab renamed with it.`
        : "Watch: skipped (BENCH_WATCH=0).",
      `${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}; 1-minute load average ${loadBefore.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end.`,
      "",
    ].join("\n"),
  );
  const sum = (rs: readonly Run[]) => ({ medianMs: median(rs.map((r) => r.ms)), medianCpuMs: median(rs.map((r) => r.cpuMs)), peakRssKiB: Math.max(...rs.map((r) => r.rssKiB)) });
  const sumS = (s: Series) => ({ ...sum(s.runs), startup: sum(s.starts), runs: s.runs.length });
  out.write(
    `BENCH_JSON ${JSON.stringify({
      node: process.version,
      cpus: cpus().length,
      cli: BUILT_CLI,
      cliSha256: CLI_SHA,
      loadavg: { start: loadBefore, end: loadavg()[0] },
      startup: sum(startups),
      entries: T_ENTRIES,
      noop: ent && sumS(ent.noop),
      coldReconcile: ent && sum(ent.cold),
      record: ent && sumS(ent.record),
      peerReconcile: ent && sumS(ent.peer),
      rebuildWarm: ent && sum(ent.rebuildWarm),
      rebuildCold: ent && sum(ent.rebuildCold),
      shellRestoreMs: shellMs,
      shellLines: ent?.shellLines,
      historySmall: small && { events: small.events, noop: sumS(small.noop), cold: sum(small.cold) },
      historyLarge: large && { events: large.events, noop: sumS(large.noop), cold: sum(large.cold) },
      errors,
      watch,
      rows,
    })}\n`,
  );
  progress(`done in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
  if (Object.keys(errors).length > 0) process.exitCode = 1;
}

function main(): void {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run 'npm run build' first`);
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} (GNU time) is needed for the shell commands' peak memory`);
  const work = mkdtempSync(join(tmpdir(), "rmtabsync-bench-cli-"));
  liveDirs.add(work);
  try {
    snapshotCli(work);
    if (process.env.BENCH_SIZES) run();
    else runTargets();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function run(): void {
  progress(`node ${process.version}, ${cpus().length} CPUs, sizes ${SIZES.join("/")}, nodes ${NODE_COUNTS.join("/")}, CLI sha256 ${CLI_SHA}`);
  const loadBefore = loadavg()[0]!;
  const fl = floors(7);
  const results: ScenarioResult[] = [];
  for (const entries of SIZES) {
    for (const nodes of NODE_COUNTS) {
      results.push(runScenario(entries, nodes));
      (globalThis as { gc?: () => void }).gc?.();
    }
  }

  const rows = results.map((r) => [
    `${r.entries / 1000}k`,
    String(r.nodes),
    String(r.reps),
    ms(r.record.ms),
    mib(r.record.rssKiB),
    ms(r.reconcile.ms),
    mib(r.reconcile.rssKiB),
    `${ms(r.shellBackup.ms)} (${r.shellBackup.exports}x)`,
    mib(r.shellBackup.rssKiB),
    `${ms(r.shellRestore.ms)} (${r.shellRestore.exports}x)`,
    mib(r.shellRestore.rssKiB),
  ]);
  const out = process.stdout;
  out.write("\nrmtabsync benchmark: cold CLI processes vs the exportfs agent's backup_rmtab/restore_rmtab\n\n");
  out.write(
    table(
      ["entries", "nodes", "reps", "record ms", "record MiB", "reconcile ms", "reconcile MiB", "sh backup ms", "sh backup MiB", "sh restore ms", "sh restore MiB"],
      rows,
      1,
    ),
  );
  out.write("\nsetup before the measurements (one run each, seconds summed over all nodes):\n");
  out.write(
    table(
      ["entries", "nodes", "init s", "first record s", "first reconcile s"],
      results.map((r) => [
        `${r.entries / 1000}k`,
        String(r.nodes),
        r.setupSeconds.init.toFixed(1),
        r.setupSeconds.firstRecord.toFixed(1),
        r.setupSeconds.firstReconcile.toFixed(1),
      ]),
    ),
  );
  out.write(
    [
      "",
      "ms = median wall time of a fresh process (spawn to exit) over `reps` runs; MiB = peak RSS (ru_maxrss), max over runs",
      "  (CLI: reported by the node child itself; shell: one extra run under GNU time, bash plus its children).",
      "record: `rmtabsync record` on n01 after mountd appended one line to its rmtab (every rmtab holds all entries).",
      "reconcile: `rmtabsync reconcile` on n01 after n02 recorded one new mount: folds all journals, rewrites rmtab.",
      "sh backup: backup_rmtab (grep \":$dir:\" rmtab > $dir/.rmtab) for each export n01 hosts (Nx = N exports), one bash.",
      "sh restore: restore_rmtab (sort -u backup rmtab > tmp && install tmp rmtab) for each export of n02, taken over by n01, one bash.",
      `process start-up floor, measured the same way: node -e 0 ${fl.nodeMs.toFixed(1)} ms, bash -c : ${fl.bashMs.toFixed(1)} ms.`,
      `${EXPORT_COUNT} exports; clients ~20% IPv6, ~40% subdirectory mounts. Page cache warm; ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}.`,
      `CLI: dist/cli.js as built at the start of the run (sha256 ${CLI_SHA}...), run from a copy.`,
      `1-minute load average: ${loadBefore.toFixed(2)} at start, ${loadavg()[0]!.toFixed(2)} at end (other work on the machine adds noise).`,
      "",
    ].join("\n"),
  );
  out.write(
    `BENCH_JSON ${JSON.stringify({
      node: process.version,
      cpus: cpus().length,
      floors: fl,
      cliSha256: CLI_SHA,
      loadavg: { start: loadBefore, end: loadavg()[0] },
      results: results.map((r) => ({
        ...r,
        summary: {
          recordMs: median(r.record.ms),
          recordMaxRssKiB: Math.max(...r.record.rssKiB),
          reconcileMs: median(r.reconcile.ms),
          reconcileMaxRssKiB: Math.max(...r.reconcile.rssKiB),
          shellBackupMs: median(r.shellBackup.ms),
          shellBackupMaxRssKiB: Math.max(...r.shellBackup.rssKiB),
          shellRestoreMs: median(r.shellRestore.ms),
          shellRestoreMaxRssKiB: Math.max(...r.shellRestore.rssKiB),
        },
      })),
    })}\n`,
  );
  progress(`done in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
}
