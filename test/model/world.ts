// A simulated cluster for the model-based test: real state and control
// directories, real SQLite journals and the real fcntl lock, with the engine
// driven in-process (record, reconcile, compact, recover, verify), next to a
// model of the truth: what every client has mounted, as rpc.mountd counts it
// on the node serving the export.
import { closeSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_SYSTEM_PATHS, journalFile, paths, validateConfig, type Config } from "../../src/config.js";
import { ExportIndex, type ExportDef } from "../../src/core/exports.js";
import { entryKey, parseRmtab, type RmtabEntry } from "../../src/core/rmtab.js";
import { initControl, listJournalFiles } from "../../src/io/control.js";
import { OwnJournal, readJournal, type ReadJournal } from "../../src/io/journal.js";
import { compareEvents, type JournalEvent } from "../../src/core/events.js";
import { foldCacheFile } from "../../src/io/fold-cache.js";
import { withRmtabLock } from "../../src/io/lock.js";
import { compact } from "../../src/maintain.js";
import { RefusedError } from "../../src/errors.js";
import { recover, type RecoverAction } from "../../src/recover.js";
import { reconcile, record, type ReconcileReport, type SyncContext } from "../../src/sync.js";
import { verifyVolume, type VerifyFinding } from "../../src/verify.js";

/** tmpfs when there is one: the same file semantics, no disk flushes. */
function scratchRoot(): string {
  const shm = "/dev/shm";
  return existsSync(shm) ? shm : tmpdir();
}

export interface Counters {
  runs: number;
  steps: number;
  engineCalls: number;
  mountdOps: number;
  moves: number;
  splits: number;
  recovers: number;
  compactions: number;
  addOnlySeen: number;
  /** Reconciles whose cached fold was compared with a full fold. */
  cacheChecks: number;
  /** Fold caches lost, damaged or replaced by an older copy. */
  cacheDamage: number;
  /** Journals whose cold read from the latest-event table was compared with a fold of every event. */
  tableReads: number;
  /** ... of which the table was refused (stale, hostile, a row held back) and the events were read. */
  tableFallbacks: number;
}

export function newCounters(): Counters {
  return { runs: 0, steps: 0, engineCalls: 0, mountdOps: 0, moves: 0, splits: 0, recovers: 0, compactions: 0, addOnlySeen: 0, cacheChecks: 0, cacheDamage: 0, tableReads: 0, tableFallbacks: 0 };
}

export interface WorldSpec {
  readonly nodes: readonly string[];
  readonly exports: readonly ExportDef[];
  /** Export name -> node that exports it at the start. */
  readonly placement: ReadonlyMap<string, string>;
  /** Clock offset of every node, ms. */
  readonly skews: readonly number[];
}

type CountTable = Map<string, RmtabEntry>;

/** Thrown when the engine breaks a property; carries what the run did. */
export class ModelViolation extends Error {}

export class World {
  readonly root: string;
  readonly control: string;
  readonly index: ExportIndex;
  readonly host = new Map<string, string>();
  readonly skew = new Map<string, number>();
  /** The truth: every client's mounts of managed paths, counted as mountd counts them. */
  readonly truth: CountTable = new Map();
  /** Lines under no export, per node: mountd's business only. */
  readonly unmanaged = new Map<string, CountTable>();
  /** Simulated time since the start of the run, ms. */
  elapsed = 0;
  readonly base = Date.now();
  /** Nodes on the split-off copy of the control volume, and that copy. */
  split: { victims: Set<string>; dir: string } | undefined;
  /** Split over, nodes back on the main copy, recover not yet run. */
  healing: { dir: string; victims: Set<string> } | undefined;
  readonly log: string[] = [];
  private splitNo = 0;
  private readonly configs = new Map<string, Config>();

  constructor(
    readonly spec: WorldSpec,
    readonly counters: Counters,
  ) {
    this.root = mkdtempSync(join(scratchRoot(), "rmtabsync-model-"));
    this.control = join(this.root, "control");
    mkdirSync(this.control);
    this.index = new ExportIndex(spec.exports);
    spec.nodes.forEach((n, i) => {
      mkdirSync(this.stateDir(n), { recursive: true });
      this.skew.set(n, spec.skews[i] ?? 0);
      this.unmanaged.set(n, new Map());
    });
    for (const [e, n] of spec.placement) this.host.set(e, n);
  }

  get nodes(): readonly string[] {
    return this.spec.nodes;
  }

  stateDir(node: string): string {
    return join(this.root, "state", node);
  }

  now(node: string): number {
    return this.base + this.elapsed + (this.skew.get(node) ?? 0);
  }

  controlDirOf(node: string): string {
    return this.split?.victims.has(node) ? this.split.dir : this.control;
  }

  /** The node's configuration as validateConfig makes it; system files point into an empty tree. */
  cfg(node: string): Config {
    const controlDir = this.controlDirOf(node);
    const key = `${node}\n${controlDir}`;
    const hit = this.configs.get(key);
    if (hit) return hit;
    const sys = join(this.root, "sys");
    const raw = {
      cluster: "model",
      controlDir,
      controlDirIsMountpoint: false,
      // the model's clocks differ by up to 20 minutes: within the skew accepted here, the hybrid
      // logical clock must order events as they happened (beyond it: test/trust.test.ts)
      maxClockSkew: "30m",
      stateDir: this.stateDir(node),
      nodes: [...this.spec.nodes],
      exports: this.spec.exports.map((e) => ({ name: e.name, path: e.path, nodes: [...e.nodes] })),
      system: Object.fromEntries(Object.keys(DEFAULT_SYSTEM_PATHS).map((k) => [k, k === "blkid" ? "blkid" : join(sys, k)])),
    };
    const cfg = validateConfig(raw, join(this.root, `${node}.yaml`));
    if (Array.isArray(cfg)) throw new Error(`model config rejected: ${cfg.join("; ")}`);
    this.configs.set(key, cfg);
    return cfg;
  }

  ctx(node: string): SyncContext {
    return {
      cfg: this.cfg(node),
      node,
      lockTimeoutMs: 10_000,
      now: () => this.now(node),
      // the truth here is mountd's: two clients unmounting between two records
      // may leave rmtab empty, which record would otherwise take for a wiped
      // file (held back on purpose; test/wiped-rmtab.test.ts)
      acceptEmpty: true,
      warn: (msg) => {
        throw new ModelViolation(`unexpected warning on ${node}: ${msg}`);
      },
    };
  }

  note(s: string): void {
    this.log.push(`[t+${this.elapsed}] ${s}`);
  }

  /** rmtabsync init on every node, then every export started where it is placed. */
  init(): void {
    for (const n of this.nodes) {
      const cfg = this.cfg(n);
      initControl(cfg, new Date(this.now(n)));
      OwnJournal.open(journalFile(paths(cfg).journals, n), { cluster: cfg.cluster, node: n, create: true, now: new Date(this.now(n)) }).close();
      this.writeEtab(n);
    }
  }

  hostedBy(node: string): string[] {
    return this.spec.exports.filter((e) => this.host.get(e.name) === node).map((e) => e.name);
  }

  writeEtab(node: string): void {
    const lines = this.hostedBy(node).map((name, i) => `${this.index.named(name)!.path}\t*(rw,sync,wdelay,hide,nocrossmnt,secure,root_squash,no_all_squash,no_subtree_check,fsid=${i + 1})\n`);
    writeFileSync(join(this.stateDir(node), "etab"), lines.join(""));
  }

  // ---- mountd, as test/helpers/mountd_sim.py does it, under the same fcntl lock ----

  private rmtabFile(node: string): string {
    return join(this.stateDir(node), "rmtab");
  }

  /** (offset, client, path, count) per line, stopping where mountd stops. */
  private mountdEntries(node: string): { pos: number; client: string; path: string; count: number }[] {
    const file = this.rmtabFile(node);
    if (!existsSync(file)) return [];
    const buf = readFileSync(file);
    const out: { pos: number; client: string; path: string; count: number }[] = [];
    let pos = 0;
    while (pos < buf.length) {
      let end = buf.indexOf(0x0a, pos);
      if (end < 0) end = buf.length;
      const line = buf.subarray(pos, end).toString("utf8");
      const start = pos;
      pos = end + 1;
      const c1 = line.indexOf(":");
      if (c1 < 0) break;
      const host = line.slice(0, c1);
      const rest = line.slice(c1 + 1);
      const c2 = rest.indexOf(":");
      const path = c2 < 0 ? rest : rest.slice(0, c2);
      const count = c2 < 0 ? 1 : Number(rest.slice(c2 + 1));
      out.push({ pos: start, client: host.replaceAll(";", ":"), path, count: Number.isNaN(count) ? 0 : count });
    }
    return out;
  }

  private static fmt(client: string, path: string, count: number): string {
    return `${client.replaceAll(":", ";")}:${path}:0x${count.toString(16).padStart(8, "0")}\n`;
  }

  private rewrite(node: string, keep: { client: string; path: string; count: number }[]): void {
    const tmp = join(this.stateDir(node), "rmtab.tmp");
    writeFileSync(tmp, keep.map((e) => World.fmt(e.client, e.path, e.count)).join(""));
    renameSync(tmp, this.rmtabFile(node));
  }

  private async underMountdLock(node: string, fn: () => void): Promise<void> {
    this.counters.mountdOps++;
    await withRmtabLock(join(this.stateDir(node), ".rmtab.lock"), { exclusive: true, timeoutMs: 10_000 }, fn);
  }

  /** MNT: count+1 in place, or a new line with count 1. */
  async mountdMount(node: string, client: string, path: string): Promise<void> {
    await this.underMountdLock(node, () => {
      const hit = this.mountdEntries(node).find((e) => e.client === client && e.path === path);
      if (hit) {
        const fd = openSync(this.rmtabFile(node), constants.O_RDWR);
        try {
          writeSync(fd, World.fmt(client, path, hit.count + 1), hit.pos);
        } finally {
          closeSync(fd);
        }
      } else {
        const fd = openSync(this.rmtabFile(node), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o644);
        try {
          writeSync(fd, World.fmt(client, path, 1));
        } finally {
          closeSync(fd);
        }
      }
    });
  }

  /** UMNT: count-1, the line dropped at 0; nothing if there is no line. */
  async mountdUmount(node: string, client: string, path: string): Promise<void> {
    await this.underMountdLock(node, () => {
      const keep = [];
      for (const e of this.mountdEntries(node)) {
        if (e.client === client && e.path === path) {
          if (e.count - 1 <= 0) continue;
          keep.push({ ...e, count: e.count - 1 });
        } else keep.push(e);
      }
      this.rewrite(node, keep);
    });
  }

  /** UMNTALL: every line of the client dropped. */
  async mountdUmountAll(node: string, client: string): Promise<void> {
    await this.underMountdLock(node, () => {
      this.rewrite(
        node,
        this.mountdEntries(node).filter((e) => e.client !== client),
      );
    });
  }

  // ---- the model ----

  static bump(t: CountTable, client: string, path: string, by: number): void {
    const k = entryKey(client, path);
    const n = (t.get(k)?.count ?? 0) + by;
    if (n <= 0) t.delete(k);
    else t.set(k, { client, path, count: n });
  }

  /** Client mounts `path` from the node that serves its export now. */
  async mount(client: string, path: string): Promise<void> {
    const exp = this.index.exportOf(path)!;
    const node = this.host.get(exp.name)!;
    this.note(`mount ${client} ${path} on ${node}`);
    await this.mountdMount(node, client, path);
    World.bump(this.truth, client, path, 1);
  }

  async umount(client: string, path: string): Promise<void> {
    const exp = this.index.exportOf(path)!;
    const node = this.host.get(exp.name)!;
    this.note(`umount ${client} ${path} on ${node}`);
    await this.mountdUmount(node, client, path);
    World.bump(this.truth, client, path, -1);
  }

  /** UMNTALL sent to `node`: the client's mounts of what that node serves end, and its lines there go. */
  async umountAll(node: string, client: string): Promise<void> {
    this.note(`umountall ${client} on ${node}`);
    await this.mountdUmountAll(node, client);
    const served = new Set(this.hostedBy(node));
    for (const [k, e] of this.truth) if (e.client === client && served.has(this.index.exportOf(e.path)!.name)) this.truth.delete(k);
    const un = this.unmanaged.get(node)!;
    for (const [k, e] of un) if (e.client === client) un.delete(k);
  }

  async unmanagedMount(node: string, client: string, path: string, up: boolean): Promise<void> {
    this.note(`${up ? "mount" : "umount"} ${client} ${path} (unmanaged) on ${node}`);
    if (up) await this.mountdMount(node, client, path);
    else await this.mountdUmount(node, client, path);
    World.bump(this.unmanaged.get(node)!, client, path, up ? 1 : -1);
  }

  // ---- the engine ----

  /** True when integrity problems are expected: between a split's end and recover. */
  get problemsExpected(): boolean {
    return this.healing !== undefined;
  }

  async record(node: string, hosting: string[] = []): Promise<void> {
    this.note(`record on ${node}${hosting.length ? ` --hosting ${hosting.join(",")}` : ""}`);
    this.counters.engineCalls++;
    const r = await record(this.ctx(node), { hosting });
    if (!this.problemsExpected && r.problems.length > 0)
      throw new ModelViolation(`record on ${node} reported problems outside a split-brain: ${r.problems.map((p) => p.problem).join("; ")}`);
  }

  async reconcile(node: string, hosting: string[] = []): Promise<ReconcileReport> {
    this.note(`reconcile on ${node}${hosting.length ? ` --hosting ${hosting.join(",")}` : ""}`);
    this.counters.engineCalls++;
    const r = await reconcile(this.ctx(node), { hosting });
    await this.checkCacheAgainstFullFold(node, hosting);
    if (r.addOnly) this.counters.addOnlySeen++;
    if (!this.problemsExpected && (r.problems.length > 0 || r.addOnly))
      throw new ModelViolation(`reconcile on ${node} reported problems outside a split-brain (addOnly ${r.addOnly}): ${r.problems.map((p) => p.problem).join("; ")}`);
    if (!r.addOnly) this.checkServed(node, "after a reconcile");
    return r;
  }

  /**
   * What the reconcile just wrote, from its fold cache, must be what a fold
   * of every journal from scratch writes: with the cache moved aside, a dry
   * run finds nothing to change.
   */
  async checkCacheAgainstFullFold(node: string, hosting: string[]): Promise<void> {
    const file = foldCacheFile(this.stateDir(node));
    const aside = `${file}.aside`;
    const had = existsSync(file);
    if (had) renameSync(file, aside);
    try {
      const dry = await reconcile(this.ctx(node), { hosting, dryRun: true });
      this.counters.cacheChecks++;
      const diff = [...dry.added, ...dry.removed, ...dry.changed];
      if (diff.length > 0)
        throw new ModelViolation(`${node}: the rmtab its fold cache made differs from a full fold's: ${diff.map((c) => `${c.client} ${c.path} ${c.from}->${c.to}`).join(", ")}`);
    } finally {
      if (had) renameSync(aside, file);
    }
    this.checkColdTables(node);
  }

  /**
   * The dry run above folded every journal cold, from its latest-event table
   * where it could: each journal's fold from the table must be byte for byte
   * its fold from every event (or the table refused, and the events read).
   */
  checkColdTables(node: string): void {
    const cfg = this.cfg(node);
    const futureAfterMs = this.now(node) + cfg.maxClockSkewMs;
    for (const file of listJournalFiles(paths(cfg).journals)) {
      const fold = (latestTable: boolean): { text: string; read: ReadJournal } | undefined => {
        const f = new Map<string, JournalEvent>();
        const sink = (e: JournalEvent) => {
          const k = entryKey(e.client, e.path);
          const cur = f.get(k);
          if (cur === undefined || compareEvents(e, cur) > 0) f.set(k, e);
        };
        try {
          const read = readJournal(file, cfg.cluster, { sink, interest: new Map(), futureAfterMs, latestTable });
          return { text: JSON.stringify([...f].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), read };
        } catch {
          return undefined; // unreadable either way (the reconcile reported it)
        }
      };
      const cold = fold(true);
      const full = fold(false);
      if (!cold || !full) continue;
      this.counters.tableReads++;
      if (!cold.read.latestTable?.used) this.counters.tableFallbacks++;
      if (cold.text !== full.text || JSON.stringify(cold.read.resume) !== JSON.stringify(full.read.resume))
        throw new ModelViolation(`${file}: its cold fold from the latest-event table differs from the fold of every event\n  table: ${cold.text}\n  events: ${full.text}`);
    }
  }

  /** The fold cache of `node` is lost, damaged, or an older copy of it comes back. */
  damageCache(node: string, how: number): void {
    const file = foldCacheFile(this.stateDir(node));
    const saved = `${file}.old`;
    this.counters.cacheDamage++;
    switch (how % 4) {
      case 0:
        this.note(`fold cache of ${node} lost`);
        rmSync(file, { force: true });
        return;
      case 1:
        this.note(`fold cache of ${node} overwritten with garbage`);
        if (existsSync(file)) writeFileSync(file, "SQLite format 3\0 garbage garbage garbage");
        return;
      case 2:
        this.note(`fold cache of ${node} copied aside`);
        if (existsSync(file)) copyFileSync(file, saved);
        return;
      default:
        this.note(`fold cache of ${node} replaced by an older copy`);
        if (existsSync(saved)) copyFileSync(saved, file);
    }
  }

  /**
   * The node serves what it hosts with the right rmtab: its lines of every
   * export it hosts equal the truth.
   */
  checkServed(node: string, when: string): void {
    const hosted = new Set(this.hostedBy(node));
    if (hosted.size === 0) return;
    const got = this.rmtabOf(node).filter((e) => hosted.has(this.index.exportOf(e.path)?.name ?? ""));
    const want = [...this.truth.values()].filter((e) => hosted.has(this.index.exportOf(e.path)!.name));
    const a = show(got);
    const b = show(want);
    if (a.join("\n") !== b.join("\n"))
      throw new ModelViolation(`${node} ${when}: its rmtab lines of the exports it serves (${[...hosted].join(", ")}) differ from the truth\n  rmtab: ${a.join(", ") || "(none)"}\n  truth: ${b.join(", ") || "(none)"}`);
  }

  rmtabOf(node: string): RmtabEntry[] {
    const file = this.rmtabFile(node);
    const parsed = parseRmtab(existsSync(file) ? readFileSync(file) : Buffer.alloc(0));
    if (parsed.malformed.length > 0 || parsed.duplicates.length > 0)
      throw new ModelViolation(`${node}: rmtab has malformed or duplicate lines: ${JSON.stringify(parsed.malformed.map((m) => m.text))} dup ${parsed.duplicates}`);
    return parsed.entries;
  }

  compact(node: string): void {
    this.note(`compact on ${node}`);
    this.counters.engineCalls++;
    this.counters.compactions++;
    try {
      compact(this.ctx(node), 0);
    } catch (err) {
      // between a split's end and recover a journal diverged: compact refuses, and must
      if (!(err instanceof RefusedError && this.problemsExpected)) throw err;
      this.note(`compact on ${node} refused: a journal diverged`);
    }
  }

  /**
   * Pacemaker moves an export, in the order of the group's resources and of
   * deploy/ocf/rmtabsync: on the old node exportfs stops (etab loses it), then
   * the agent's stop runs `record --hosting EXPORT`; on the new node the
   * agent's start runs `reconcile --hosting EXPORT`, then exportfs starts,
   * before any client reaches it there. `between`: what the daemon or the
   * timer runs meanwhile: 1, a record on the old node after exportfs -u and
   * before the agent's record; 2, a record and 3, a reconcile on the new
   * node after the agent's reconcile and before exportfs; else nothing.
   */
  async move(exp: string, to: string, between = 0): Promise<void> {
    const from = this.host.get(exp)!;
    if (from === to) return;
    this.note(`move ${exp} from ${from} to ${to}`);
    this.counters.moves++;
    this.host.set(exp, to);
    this.writeEtab(from);
    if (between === 1) await this.record(from);
    await this.record(from, [exp]);
    await this.reconcile(to, [exp]);
    if (between === 2) await this.record(to);
    if (between === 3) await this.reconcile(to);
    this.writeEtab(to);
    this.checkServed(to, "after taking over");
  }

  /** DRBD split-brain: `victims` go on with their own copy of the control volume. */
  startSplit(victims: Set<string>): void {
    const dir = join(this.root, `victim-${++this.splitNo}`);
    cpSync(this.control, dir, { recursive: true });
    this.split = { victims, dir };
    this.counters.splits++;
    this.note(`split-brain: ${[...victims].join(", ")} on ${dir}`);
  }

  /**
   * The split is resolved: every node back on the surviving copy. With
   * `careful`, the victims record their last changes on their copy before,
   * and record once on the surviving copy right after (so that the baseline
   * kept there matches their rmtab again).
   */
  async endSplit(careful = false): Promise<void> {
    if (!this.split) return;
    const victims = this.split.victims;
    if (careful) for (const n of victims) await this.record(n);
    this.note(`split-brain resolved: everyone back on the main copy`);
    this.healing = { dir: this.split.dir, victims };
    this.split = undefined;
    if (careful) for (const n of victims) await this.record(n);
  }

  /** A split's victim between the split's end and recover. */
  awaitingRecover(node: string): boolean {
    return this.healing?.victims.has(node) ?? false;
  }

  /** The administrator merges the victim's copy, once or twice. */
  recover(node: string, twice: boolean): RecoverAction[] {
    if (!this.healing) return [];
    this.note(`recover from ${this.healing.dir} on ${node}${twice ? " (twice)" : ""}`);
    this.counters.engineCalls++;
    this.counters.recovers++;
    const acts = recover(this.cfg(node), this.healing.dir, { dryRun: false, nowMs: this.now(node) });
    for (const a of acts) if (a.action === "unreadable") throw new ModelViolation(`recover found an unreadable journal: ${a.from}: ${a.detail}`);
    if (twice) {
      this.counters.engineCalls++;
      const again = recover(this.cfg(node), this.healing.dir, { dryRun: false, nowMs: this.now(node) });
      const did = again.filter((a) => a.action !== "none");
      if (did.length > 0) throw new ModelViolation(`recover run twice merged again: ${JSON.stringify(did)}`);
    }
    this.healing = undefined;
    return acts;
  }

  verify(node: string): VerifyFinding[] {
    this.counters.engineCalls++;
    return verifyVolume(this.cfg(node), { node }).findings;
  }

  /** What `node`'s rmtab must hold after convergence. */
  expected(node: string): RmtabEntry[] {
    const managed = new Set([...this.hostedBy(node), ...this.index.eligibleFor(node)]);
    const want = [...this.truth.values()].filter((e) => managed.has(this.index.exportOf(e.path)!.name));
    return [...want, ...this.unmanaged.get(node)!.values()];
  }

  cleanup(): void {
    if (process.env.RMTABSYNC_KEEP_TEST_DIRS) return;
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function show(entries: readonly RmtabEntry[]): string[] {
  return entries.map((e) => `${e.client} ${e.path} ${e.count}`).sort();
}
