// rmtabsync benchmark: cold `record` and `reconcile` (fresh CLI processes)
// with their peak memory, for 1k/10k/100k rmtab entries over 2 and 8 nodes,
// beside the exportfs resource agent's backup_rmtab/restore_rmtab shell
// commands on the same rmtab data.
//
//   npm run bench                      (build + node --expose-gc dist/bench.js)
//   BENCH_SIZES=1000,10000 BENCH_NODES=2 BENCH_REPS=3 node dist/bench.js
//   BENCH_KEEP=1 ...   keeps each scenario's cluster dir (e.g. to profile the CLI there)
//
// Progress goes to stderr; the table and one JSON line go to stdout.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { shellScript } from "./shellway.js";

// dist/bench.js is a CommonJS bundle next to dist/cli.js.
const ROOT = resolve(dirname(process.argv[1] ?? "dist/bench.js"), "..");
const BUILT_CLI = join(ROOT, "dist", "cli.js");
/**
 * The CLI the bench runs: a copy of dist/cli.js taken at start, so a rebuild
 * during the run (others work in this tree) cannot change it half-way. Its
 * external modules (better-sqlite3, os-lock) still load from node_modules.
 */
let CLI = BUILT_CLI;
let CLI_SHA = "";
const CHILD_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  NODE_PATH: [join(ROOT, "node_modules"), process.env.NODE_PATH].filter(Boolean).join(":"),
};

function snapshotCli(dir: string): void {
  const bytes = readFileSync(BUILT_CLI);
  CLI_SHA = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
  CLI = join(dir, "cli.js");
  writeFileSync(CLI, bytes);
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
    // Peak RSS of a CLI run: the child itself reports getrusage's ru_maxrss (KiB) on exit.
    this.rssHook = join(this.root, "rss-hook.cjs");
    this.rssFile = join(this.root, "rss.txt");
    writeFileSync(
      this.rssHook,
      `process.on("exit", () => { const f = process.env.RMTABSYNC_BENCH_RSS; if (f) require("node:fs").writeFileSync(f, String(process.resourceUsage().maxRSS)); });\n`,
    );
    const exportYaml = this.exports.map((e) => `  - name: ${e.name}\n    path: ${e.path}\n`).join("");
    for (const n of this.nodes) {
      mkdirSync(this.stateDir(n), { recursive: true });
      writeFileSync(
        this.configFile(n),
        `cluster: bench\ncontrolDir: ${this.control}\ncontrolDirIsMountpoint: false\nstateDir: ${this.stateDir(n)}\nnodes: [${this.nodes.join(", ")}]\nexports:\n${exportYaml}`,
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

  /** One fresh CLI process: wall time of the whole process, and its peak RSS in KiB. */
  cli(node: string, args: string[]): { ms: number; rssKiB: number; out: string } {
    rmSync(this.rssFile, { force: true });
    const { ms, r } = timedSpawn(
      process.execPath,
      ["--require", this.rssHook, CLI, "-c", this.configFile(node), "-n", node, ...args],
      { ...CHILD_ENV, RMTABSYNC_BENCH_RSS: this.rssFile },
    );
    if (r.status !== 0) fail(`rmtabsync ${args.join(" ")} on ${node}`, r);
    const rssKiB = Number(readFileSync(this.rssFile, "utf8"));
    return { ms, rssKiB, out: r.stdout };
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

function main(): void {
  if (!existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run 'npm run build' first`);
  if (!existsSync(TIME_BIN)) throw new Error(`${TIME_BIN} (GNU time) is needed for the shell commands' peak memory`);
  const work = mkdtempSync(join(tmpdir(), "rmtabsync-bench-cli-"));
  liveDirs.add(work);
  try {
    snapshotCli(work);
    run();
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
