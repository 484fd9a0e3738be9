// Model-based randomized test (fast-check): 2-8 nodes, 2-5 exports, random
// mounts and umounts (IPv4, IPv6, subdirectories, unmanaged lines), exports
// moving the way Pacemaker moves them, clock skew and clock jumps, DRBD
// split-brains with their recovery, compaction, records and reconciles at
// random times. After convergence every node's rmtab must equal the model's
// truth for the exports it hosts or may host, plus its unmanaged lines.
//
// The engine runs in-process on real directories, real SQLite journals and
// the real fcntl lock. Reproduce a failure with RMTABSYNC_MODEL_SEED=<seed>
// (and RMTABSYNC_MODEL_PATH=<path> to replay the shrunk case);
// RMTABSYNC_MODEL_RUNS and RMTABSYNC_MODEL_FULL_RUNS set the numbers of runs;
// RMTABSYNC_MODEL_SHRINK=1 shrinks failures of the second property too.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import type { ExportDef } from "../src/core/exports.js";
import { compact } from "../src/maintain.js";
import { ModelViolation, newCounters, show, World } from "./model/world.js";

const NODE_NAMES = ["ds01", "ds02", "ds03", "ds04", "ds05", "ds06", "ds07", "ds08"];
const CLIENTS = ["10.0.0.1", "10.0.0.2", "192.168.7.33", "2001:db8::5", "fd00:1:2::a"];
const SUBDIRS = ["", "/images", "/iso/2026"];
const UNMANAGED = ["/home", "/var/backups"];
const MAX_SKEW = 10 * 60_000;

type Step =
  | { k: "mount"; client: number; exp: number; sub: number }
  | { k: "umount"; pick: number }
  | { k: "umountall"; client: number; exp: number }
  | { k: "unmanaged"; node: number; client: number; path: number; up: boolean }
  | { k: "record"; node: number }
  | { k: "reconcile"; node: number }
  | { k: "move"; exp: number; to: number; between: number }
  | { k: "skew"; node: number; skew: number }
  | { k: "compact"; node: number }
  | { k: "split"; mask: number }
  | { k: "heal" }
  | { k: "recover"; node: number; twice: boolean }
  | { k: "cache"; node: number; how: number };

interface Scenario {
  nodeCount: number;
  exports: { restrict: boolean; mask: number; home: number }[];
  skews: number[];
  steps: { dt: number; step: Step }[];
}

const nat = fc.nat({ max: 1000 });
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ k: fc.constant("mount" as const), client: nat, exp: nat, sub: nat }) },
  { weight: 6, arbitrary: fc.record({ k: fc.constant("umount" as const), pick: nat }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("umountall" as const), client: nat, exp: nat }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("unmanaged" as const), node: nat, client: nat, path: nat, up: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("record" as const), node: nat }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("reconcile" as const), node: nat }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("move" as const), exp: nat, to: nat, between: fc.integer({ min: 0, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("skew" as const), node: nat, skew: fc.integer({ min: -MAX_SKEW, max: MAX_SKEW }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("compact" as const), node: nat }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("split" as const), mask: fc.integer({ min: 1, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("heal" as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("recover" as const), node: nat, twice: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("cache" as const), node: nat, how: nat }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  nodeCount: fc.integer({ min: 2, max: 8 }),
  exports: fc.array(fc.record({ restrict: fc.boolean(), mask: fc.integer({ min: 1, max: 255 }), home: nat }), { minLength: 2, maxLength: 5 }),
  skews: fc.array(fc.integer({ min: -MAX_SKEW, max: MAX_SKEW }), { minLength: 8, maxLength: 8 }),
  steps: fc.array(fc.record({ dt: fc.integer({ min: 0, max: 5000 }), step: stepArb }), { minLength: 5, maxLength: 60, size: "max" }),
});

const counters = newCounters();

function at<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length]!;
}

function build(s: Scenario): World {
  const nodes = NODE_NAMES.slice(0, s.nodeCount);
  const exports: ExportDef[] = [];
  const placement = new Map<string, string>();
  s.exports.forEach((e, i) => {
    let eligible = nodes;
    if (e.restrict) {
      const sub = nodes.filter((_, j) => (e.mask >> j) & 1);
      if (sub.length > 0) eligible = sub;
    }
    const name = `vm${i}`;
    exports.push({ name, path: `/srv/${name}`, nodes: eligible });
    placement.set(name, at(eligible, e.home));
  });
  return new World({ nodes, exports, placement, skews: s.skews }, counters);
}

/**
 * Careful mode keeps clear of the problems the model found (see "cases the
 * model found" below): a split's victims record their last changes on their copy before
 * the split ends and once on the surviving copy right after; their clients
 * change nothing between the split's end and recover; and a UMNTALL is
 * recorded at once (as a watcher would) so that no takeover follows it
 * unrecorded.
 */
interface Mode {
  readonly careful: boolean;
}

async function runStep(w: World, step: Step, mode: Mode): Promise<void> {
  const nodes = w.nodes;
  const exps = w.spec.exports;
  const quiet = !w.split && !w.healing;
  const reachable = (path: string) => !mode.careful || !w.awaitingRecover(w.host.get(w.index.exportOf(path)!.name)!);
  switch (step.k) {
    case "mount": {
      const e = at(exps, step.exp);
      const path = `${e.path}${at(SUBDIRS, step.sub)}`;
      if (reachable(path)) await w.mount(at(CLIENTS, step.client), path);
      return;
    }
    case "umount": {
      const mounted = [...w.truth.values()];
      if (mounted.length === 0) return;
      const e = at(mounted, step.pick);
      if (reachable(e.path)) await w.umount(e.client, e.path);
      return;
    }
    case "umountall": {
      const e = at(exps, step.exp);
      if (!reachable(e.path)) return;
      const node = w.host.get(e.name)!;
      await w.umountAll(node, at(CLIENTS, step.client));
      // careful: recorded at once, as a watcher would, before any takeover by this node
      if (mode.careful) await w.record(node);
      return;
    }
    case "unmanaged":
      await w.unmanagedMount(at(nodes, step.node), at(CLIENTS, step.client), at(UNMANAGED, step.path), step.up);
      return;
    case "record":
      await w.record(at(nodes, step.node));
      return;
    case "reconcile":
      await w.reconcile(at(nodes, step.node));
      return;
    case "move": {
      if (!quiet) return; // no failover while the control volume is split or not yet merged
      const e = at(exps, step.exp);
      await w.move(e.name, at(e.nodes, step.to), step.between);
      return;
    }
    case "skew":
      w.note(`clock of ${at(nodes, step.node)} now off by ${step.skew} ms`);
      w.skew.set(at(nodes, step.node), step.skew);
      return;
    case "compact":
      w.compact(at(nodes, step.node));
      return;
    case "split": {
      if (!quiet) return;
      const victims = new Set(nodes.filter((_, j) => (step.mask >> j) & 1));
      if (victims.size === 0) victims.add(at(nodes, step.mask));
      w.startSplit(victims);
      return;
    }
    case "heal":
      await w.endSplit(mode.careful);
      return;
    case "recover":
      if (w.split) return;
      w.recover(at(nodes, step.node), step.twice);
      return;
    case "cache":
      w.damageCache(at(nodes, step.node), step.how);
      return;
  }
}

/** Ends any split, recovers, then record everywhere, reconcile everywhere twice. */
async function converge(w: World, mode: Mode = { careful: false }): Promise<void> {
  if (w.split) await w.endSplit(mode.careful);
  if (w.healing) w.recover(w.nodes[0]!, false);
  for (const n of w.nodes) await w.record(n);
  for (const n of w.nodes) await w.reconcile(n);
  for (const n of w.nodes) {
    const r = await w.reconcile(n);
    if (r.addOnly || r.problems.length > 0) throw new ModelViolation(`final reconcile on ${n}: addOnly ${r.addOnly}, problems ${JSON.stringify(r.problems)}`);
  }
}

function check(w: World): void {
  for (const n of w.nodes) {
    const got = show(w.rmtabOf(n));
    const want = show(w.expected(n));
    if (got.join("\n") !== want.join("\n"))
      throw new ModelViolation(`after convergence ${n}'s rmtab differs from the model\n  rmtab: ${got.join(", ") || "(none)"}\n  model: ${want.join(", ") || "(none)"}`);
  }
  for (const n of w.nodes) {
    const findings = w.verify(n);
    if (findings.length > 0) throw new ModelViolation(`verify on ${n} after convergence: ${findings.map((f) => `${f.check} ${f.file}: ${f.problem}`).join("; ")}`);
  }
}

async function runScenario(s: Scenario, mode: Mode): Promise<void> {
  counters.runs++;
  const w = build(s);
  try {
    w.init();
    for (const { dt, step } of s.steps) {
      w.elapsed += dt;
      counters.steps++;
      await runStep(w, step, mode);
    }
    await converge(w, mode);
    check(w);
  } catch (err) {
    if (err instanceof Error) err.message += `\n  run log:\n    ${w.log.join("\n    ")}`;
    throw err;
  } finally {
    w.cleanup();
  }
}

const RUNS = Number(process.env.RMTABSYNC_MODEL_RUNS ?? 200);
const SEED = process.env.RMTABSYNC_MODEL_SEED === undefined ? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0 : Number(process.env.RMTABSYNC_MODEL_SEED);
const FULL_RUNS = Number(process.env.RMTABSYNC_MODEL_FULL_RUNS ?? 30);
const PATH = process.env.RMTABSYNC_MODEL_PATH;

afterAll(() => {
  console.log(
    `model test: seed ${SEED}, ${counters.runs} runs, ${counters.steps} random steps, ${counters.engineCalls} engine calls, ` +
      `${counters.mountdOps} mountd changes, ${counters.moves} export moves, ${counters.splits} split-brains, ${counters.recovers} recovers, ` +
      `${counters.compactions} compactions, ${counters.addOnlySeen} add-only reconciles, ` +
      `${counters.cacheChecks} fold caches compared with a full fold, ${counters.cacheDamage} caches lost, damaged or rolled back, ` +
      `${counters.tableReads} cold reads from latest-event tables compared with a full fold (${counters.tableFallbacks} refused the table)`,
  );
});

describe("model-based cluster test", () => {
  it("after convergence every node's rmtab equals the model's, for every seed (careful split-brain handling)", async () => {
    expect(Number.isInteger(RUNS) && RUNS > 0).toBe(true);
    const mode = { careful: true };
    await fc.assert(
      fc.asyncProperty(scenarioArb, (s) => runScenario(s, mode)),
      { numRuns: RUNS, seed: SEED, path: PATH },
    );
  }, 600_000);

  // FAILS with the current src/: without the care above, the problems
  // reproduced in "cases the model found" below show up (a split's victim
  // diffing its rmtab against the baseline of the surviving copy; stamps on
  // the surviving copy lower than the victim's; an unrecorded UMNTALL before
  // a takeover); fast-check shrinks to one of them within a few runs.
  it("after convergence every node's rmtab equals the model's, for every seed (any split-brain timing)", async () => {
    const mode = { careful: false };
    await fc.assert(
      fc.asyncProperty(scenarioArb, (s) => runScenario(s, mode)),
      // shrinking takes most of a minute here: only with RMTABSYNC_MODEL_SHRINK=1
      { numRuns: FULL_RUNS, seed: SEED, path: PATH, endOnFailure: !process.env.RMTABSYNC_MODEL_SHRINK },
    );
  }, 600_000);
});

// Minimal reproductions of what the model found. Each drives the same
// in-process cluster step by step; `expected` is the truth the model keeps.
describe("cases the model found (fail with the current src/)", () => {
  async function twoNodes(skews: number[] = [0, 0, 0], n = 2): Promise<World> {
    const nodes = NODE_NAMES.slice(0, n);
    const exports: ExportDef[] = [
      { name: "vm0", path: "/srv/vm0", nodes },
      { name: "vm1", path: "/srv/vm1", nodes },
    ];
    const w = new World({ nodes, exports, placement: new Map([["vm0", "ds02"], ["vm1", n > 2 ? "ds03" : "ds01"]]), skews }, newCounters());
    w.init();
    return w;
  }

  it("a client that unmounts on the victim side after its mount was recorded there does not come back", async () => {
    const w = await twoNodes();
    try {
      w.startSplit(new Set(["ds02"]));
      await w.mount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // victim copy: mount 10.0.0.1
      await w.umount("10.0.0.1", "/srv/vm0"); // not recorded before the split ends
      await w.endSplit();
      w.recover("ds01", false);
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
    } finally {
      w.cleanup();
    }
  });

  it("a client that mounts again on the victim side after its umount was recorded there keeps its mount", async () => {
    const w = await twoNodes();
    try {
      await w.mount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // both copies: mount 10.0.0.1
      w.startSplit(new Set(["ds02"]));
      await w.umount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // victim copy: umount 10.0.0.1
      await w.mount("10.0.0.1", "/srv/vm0"); // not recorded before the split ends
      await w.endSplit();
      w.recover("ds01", false);
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
    } finally {
      w.cleanup();
    }
  });

  it("a change recorded between the split's end and recover wins over the victim's older events despite clock skew", async () => {
    const w = await twoNodes([0, 0, 10 * 60_000], 3);
    try {
      await w.mount("10.0.0.1", "/srv/vm0");
      await w.record("ds02");
      w.startSplit(new Set(["ds02", "ds03"]));
      await w.mount("10.0.0.2", "/srv/vm1");
      await w.record("ds03"); // stamped by ds03's clock, 10 minutes ahead
      await w.umount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // stamped past ds03's event: ds02 saw it
      await w.endSplit();
      w.elapsed += 60_000;
      await w.mount("10.0.0.1", "/srv/vm0");
      await w.mount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // on the main copy: count 2, a minute after the umount
      w.recover("ds01", false);
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
    } finally {
      w.cleanup();
    }
  });

  it("an umount compacted away on the victim copy, with the mount it supersedes, does not come back after recover", async () => {
    const w = await twoNodes();
    try {
      await w.mount("10.0.0.1", "/srv/vm1"); // served by ds01
      await w.record("ds01"); // both copies: mount 10.0.0.1
      w.startSplit(new Set(["ds01"]));
      await w.umount("10.0.0.1", "/srv/vm1");
      await w.record("ds01"); // victim copy: umount 10.0.0.1
      await w.mount("10.0.0.2", "/srv/vm1");
      await w.record("ds01"); // victim copy: a newer event, so the umount is not the tip
      w.elapsed += 1000;
      w.compact("ds01"); // victim copy: the mount and its umount both retire
      await w.endSplit(true);
      w.recover("ds01", false);
      await converge(w);
      expect(show(w.rmtabOf("ds01"))).toEqual(show(w.expected("ds01")));
    } finally {
      w.cleanup();
    }
  });

  it("a mount compacted away by recover into a journal already forked once is folded again by every fold cache", async () => {
    const w = await twoNodes();
    const step = () => (w.elapsed += 1000);
    try {
      // a first split whose victim ds01 records on both copies: its journal forks, recover makes a branch
      w.startSplit(new Set(["ds01"]));
      await w.mount("10.0.0.3", "/srv/vm1");
      await w.record("ds01");
      await w.endSplit(true);
      await w.mount("10.0.0.4", "/srv/vm1");
      await w.record("ds01");
      w.recover("ds01", false);
      step();
      await w.mount("10.0.0.1", "/srv/vm1");
      await w.record("ds01"); // both copies of the next split: mount 10.0.0.1
      for (const n of w.nodes) await w.reconcile(n); // the fold caches hold it
      step();
      // the second split forks the same journal again: recover appends to the branch it made
      w.startSplit(new Set(["ds01"]));
      await w.umount("10.0.0.1", "/srv/vm1");
      await w.record("ds01");
      await w.mount("10.0.0.2", "/srv/vm1");
      await w.record("ds01");
      step();
      w.compact("ds01"); // victim copy: the mount and its umount both retire
      await w.endSplit(true);
      await w.mount("10.0.0.5", "/srv/vm1");
      await w.record("ds01");
      for (const n of w.nodes) await w.reconcile(n);
      w.recover("ds01", false);
      await converge(w); // every reconcile's cached fold is compared with a full fold
      for (const n of w.nodes) expect(show(w.rmtabOf(n))).toEqual(show(w.expected(n)));
    } finally {
      w.cleanup();
    }
  });

  it("an umount journaled on the surviving copy after the split is not compacted away before recover brings back the mount it supersedes", async () => {
    const w = await twoNodes();
    try {
      w.startSplit(new Set(["ds02"]));
      await w.mount("10.0.0.1", "/srv/vm0"); // served by ds02
      await w.record("ds02"); // victim copy only: mount 10.0.0.1
      await w.endSplit();
      await w.umount("10.0.0.1", "/srv/vm0");
      await w.record("ds02"); // surviving copy: umount 10.0.0.1, later than the mount
      await w.mount("10.0.0.2", "/srv/vm0");
      await w.record("ds02"); // a newer event, so the umount is not the tip
      w.elapsed += 1000;
      // no mount of 10.0.0.1 on this copy, the umount would retire: refused while ds02's journal reads as forked
      expect(() => compact(w.ctx("ds02"), 0)).toThrow(/not compacting while a journal diverged/);
      w.recover("ds01", false); // the victim's mount comes back in a branch
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
      w.elapsed += 1000;
      w.compact("ds02"); // after recover: the branch's mount keeps the umount
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
    } finally {
      w.cleanup();
    }
  });

  it("a UMNTALL that drops a line of an export the node does not serve yet is not journaled as an umount when it takes the export over", async () => {
    const w = await twoNodes();
    try {
      await w.mount("10.0.0.1", "/srv/vm1"); // served by ds01
      await w.reconcile("ds01");
      await w.reconcile("ds02"); // ds02 may host vm1: the line is restored there
      await w.umountAll("ds02", "10.0.0.1"); // sent to ds02 (vm0's server): mountd drops every line of the client
      await w.move("vm1", "ds02"); // no record on ds02 in between
      await converge(w);
      expect(show(w.rmtabOf("ds02"))).toEqual(show(w.expected("ds02")));
    } finally {
      w.cleanup();
    }
  });
});
